/**
 * Heat carried by a water loop, Q = ρ · V̇ · c_p · ΔT, with the water's density and
 * specific heat at the loop's temperature. Pure functions: the collector uses them to
 * cross-check a meter's reported heat, the server can reuse them to flag readings.
 */

/** A reported heat that differs from flow × ΔT by more than this share is suspect. */
export const HEAT_DISAGREEMENT_LIMIT = 0.1;

const LITRES_PER_M3 = 1000;
const SECONDS_PER_MINUTE = 60;

function assertLiquidWater(tempC: number): void {
  // Outside 0–100 °C at loop pressure the loop is not liquid water; a number here is a
  // sensor fault, and a confident heat figure from it would hide that.
  if (!Number.isFinite(tempC) || tempC < 0 || tempC > 100) {
    throw new RangeError(`water temperature ${tempC} °C is outside 0–100 °C`);
  }
}

/**
 * Density of air-free water at 1 atm in kg/m³ (Kell 1975; within 0.01 kg/m³ of IAPWS-95
 * from 0 to 100 °C).
 */
export function waterDensityKgPerM3(tempC: number): number {
  assertLiquidWater(tempC);
  const t = tempC;
  const numerator =
    999.83952 + 16.945176 * t - 7.9870401e-3 * t ** 2 - 46.170461e-6 * t ** 3 + 105.56302e-9 * t ** 4 - 280.54253e-12 * t ** 5;
  return numerator / (1 + 16.87985e-3 * t);
}

// Least-squares quartic through IAPWS-95 c_p at 0.1 MPa, 10–70 °C in 5 K steps, in
// x = (t − 40) / 30; largest residual 0.008 %.
const CP_COEFFS_KJ = [4.178523076923081, 0.00418976023975797, 0.008402097902077802, -0.005349650349647157, 0.0038517482517650965];

/**
 * Isobaric specific heat of water in J/(kg·K). Fitted for 10–70 °C (within 0.01 %);
 * outside that the edge value is used, which stays within 0.7 % down to 0 °C.
 */
export function waterSpecificHeatJPerKgK(tempC: number): number {
  assertLiquidWater(tempC);
  const x = (Math.min(70, Math.max(10, tempC)) - 40) / 30;
  let kJ = 0;
  for (let i = CP_COEFFS_KJ.length - 1; i >= 0; i--) kJ = kJ * x + CP_COEFFS_KJ[i];
  return kJ * 1000;
}

/** Heat carried per L/min of flow per kelvin of ΔT, in W, for water at `tempC`. */
export function wattsPerLpmPerK(tempC: number): number {
  return (waterDensityKgPerM3(tempC) * waterSpecificHeatJPerKgK(tempC)) / (LITRES_PER_M3 * SECONDS_PER_MINUTE);
}

export interface LoopFlow {
  flowLpm: number;
  supplyTempC: number;
  returnTempC: number;
}

/**
 * Heat in W that a water loop moves: ρ · V̇ · c_p · |ΔT|, properties at the mean of supply
 * and return (the flow meter's side is rarely known; at 10 K apart the choice moves the
 * result by under 0.1 %).
 */
export function heatFromFlowW({ flowLpm, supplyTempC, returnTempC }: LoopFlow): number {
  if (!Number.isFinite(flowLpm) || flowLpm < 0) throw new RangeError(`flow ${flowLpm} L/min is not a flow`);
  const meanC = (supplyTempC + returnTempC) / 2;
  assertLiquidWater(supplyTempC);
  assertLiquidWater(returnTempC);
  return flowLpm * Math.abs(returnTempC - supplyTempC) * wattsPerLpmPerK(meanC);
}

export interface HeatCheck {
  reportedW: number;
  computedW: number;
  /** |reported − computed| / computed; Infinity when flow × ΔT is zero but heat is reported. */
  disagreement: number;
  suspect: boolean;
}

/** Compares a reported heat with flow × ΔT; `suspect` when they differ by more than 10 %. */
export function checkReportedHeat(reportedW: number, loop: LoopFlow, limit = HEAT_DISAGREEMENT_LIMIT): HeatCheck {
  const computedW = heatFromFlowW(loop);
  const diff = Math.abs(reportedW - computedW);
  const disagreement = computedW === 0 ? (diff === 0 ? 0 : Number.POSITIVE_INFINITY) : diff / computedW;
  return { reportedW, computedW, disagreement, suspect: disagreement > limit };
}
