/**
 * The `ipp` command line: `ipp controller`, `ipp engine`, `ipp cluster`.
 *
 * Run it with `deno task ipp <command>` or `deno run -A src/cli/main.ts <command>`.
 *
 * @module
 */

const HELP = `ipp — IPython parallel for Deno

Usage:
  ipp <command> [options]

Commands:
  controller   start a controller (Hub and schedulers)      [not implemented yet]
  engine       start an engine that registers with a controller [not implemented yet]
  cluster      start, stop and list local clusters          [not implemented yet]

Options:
  -h, --help   show this help

Examples:
  deno task ipp controller --help
  deno task ipp cluster start -n 4
`;

/** Commands this build knows, with the issue that brings each one. */
const PLANNED: Record<string, string> = {
  controller: "the controller (issue 4)",
  engine: "the engine (issue 5)",
  cluster: "the Cluster API and launchers (issue 7)",
};

/**
 * Run the command line.
 * @param args The arguments after the program name.
 * @returns The process exit code.
 */
export function main(args: string[]): number {
  const [command, ...rest] = args;
  if (command === undefined || command === "-h" || command === "--help" || command === "help") {
    console.log(HELP);
    return command === undefined ? 2 : 0;
  }
  const planned = PLANNED[command];
  if (planned === undefined) {
    console.error(`ipp: unknown command ${JSON.stringify(command)}\n`);
    console.error(HELP);
    return 2;
  }
  if (rest.includes("--help") || rest.includes("-h")) {
    console.log(`ipp ${command}: ${planned} is not in this build yet.`);
    return 0;
  }
  console.error(
    `ipp ${command}: ${planned} is not in this build yet. ` +
      "Until it lands, use the Python ipyparallel tools (ipcontroller, ipengine, ipcluster).",
  );
  return 2;
}

if (import.meta.main) {
  Deno.exit(main(Deno.args));
}
