/**
 * The `ipp` command line: `ipp controller`, `ipp engine`, `ipp cluster`, `ipp console`.
 *
 * Run it with `deno task ipp <command>` or `deno run -A src/cli/main.ts <command>`.
 * Each command is loaded only when asked for, so `ipp engine` never loads the controller.
 *
 * @module
 */

const HELP = `ipp — IPython parallel for Deno

Usage:
  ipp <command> [options]

Commands:
  controller   start a controller (Hub and schedulers), like ipcontroller
  engine       start an engine that registers with a controller, like ipengine
  cluster      start, stop and list clusters on this machine, like ipcluster
  console      a console connected to a cluster, with %px and %autopx

Options:
  -h, --help   show this help (also: ipp <command> --help)

Examples:
  ipp controller --ip=127.0.0.1 --cluster-id=demo
  ipp engine --cluster-id=demo
  ipp cluster start -n 4 --daemonize && ipp cluster stop
  ipp console --cluster-id=demo
`;

type Command = (args: string[]) => Promise<number>;

const COMMANDS: Record<string, () => Promise<Command>> = {
  controller: async () => (await import("./controller.ts")).controllerCommand,
  engine: async () => (await import("./engine.ts")).engineCommand,
  cluster: async () => (await import("./cluster.ts")).clusterCommand,
  console: async () => (await import("./console.ts")).consoleCommand,
};

/**
 * Run the command line.
 * @param args The arguments after the program name.
 * @returns The process exit code.
 */
export async function main(args: string[]): Promise<number> {
  const [command, ...rest] = args;
  if (command === undefined || command === "-h" || command === "--help" || command === "help") {
    console.log(HELP);
    return command === undefined ? 2 : 0;
  }
  const load = COMMANDS[command];
  if (load === undefined) {
    console.error(`ipp: unknown command ${JSON.stringify(command)}\n`);
    console.error(HELP);
    return 2;
  }
  return await (await load())(rest);
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
