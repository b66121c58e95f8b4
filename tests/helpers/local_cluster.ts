/**
 * A local cluster for tests: our controller on loopback and JavaScript engines, in a
 * temporary profile directory that is removed afterwards.
 *
 * @module
 */

import { type Client, type ClientOptions, Cluster, type ClusterOptions } from "../../mod.ts";

/** Options of {@link withLocalCluster}: engines, cluster id, extra controller flags. */
export type LocalClusterOptions = Omit<ClusterOptions, "profileDir"> & {
  n: number;
  clusterId: string;
};

/**
 * Runs `fn` with a `Cluster` (not started) whose profile directory is a fresh temporary one;
 * the cluster is stopped and the directory removed when `fn` ends, however it ends.
 *
 * @param options The cluster's options; `--ip=127.0.0.1` is put before `controllerArgs`,
 *   and `timeoutMs` defaults to 60 s.
 * @param fn The test body.
 * @returns What `fn` returns.
 */
export async function withLocalCluster<T>(
  options: LocalClusterOptions,
  fn: (cluster: Cluster, dir: string) => Promise<T>,
): Promise<T> {
  const dir = await Deno.makeTempDir({ prefix: `ipp-${options.clusterId}-` });
  try {
    await using cluster = new Cluster({
      timeoutMs: 60_000,
      ...options,
      profileDir: dir,
      controllerArgs: ["--ip=127.0.0.1", ...(options.controllerArgs ?? [])],
    });
    return await fn(cluster, dir);
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

/**
 * Like {@link withLocalCluster}, with the cluster started and a client connected that sees all
 * `n` engines; the client is closed when `fn` ends.
 *
 * @param options The cluster's options, and `client`: the client's (`timeout` 20 s unless
 *   given).
 * @param fn The test body.
 * @returns What `fn` returns.
 */
export async function withConnectedCluster<T>(
  options: LocalClusterOptions & { client?: ClientOptions },
  fn: (cluster: Cluster, client: Client, dir: string) => Promise<T>,
): Promise<T> {
  const { client: clientOptions, ...clusterOptions } = options;
  return await withLocalCluster(clusterOptions, async (cluster, dir) => {
    await cluster.start();
    await using client = await cluster.connect({ timeout: 20_000, ...clientOptions });
    await cluster.waitForEngines(client, options.n);
    return await fn(cluster, client, dir);
  });
}
