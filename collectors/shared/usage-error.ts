/**
 * A command line the program cannot act on (unknown flag, missing value): the CLI prints
 * its message and exits 2. Its own module, so that collectors and commands can import it
 * without importing the CLI entry point (a cycle while that module is still loading).
 */
export class UsageError extends Error {}
