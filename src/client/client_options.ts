/**
 * {@link ClientOptions}: what `Client.connect` takes — where the connection file is, time-outs,
 * logging, session, SSH tunnel and the client's memory bounds.
 *
 * @module
 */

import type { Logger } from "./client_sockets.ts";

/** Options of {@link Client.connect}. */
export interface ClientOptions {
  /** Path of the client connection file; wins over profile and cluster id. */
  urlFile?: string;
  /** Profile name (default `"default"`). */
  profile?: string;
  /** Explicit profile folder. */
  profileDir?: string;
  /** IPython folder (default `$IPYTHONDIR` or `~/.ipython`). */
  ipythonDir?: string;
  /** Cluster id: the file is `ipcontroller-<clusterId>-client.json`. */
  clusterId?: string;
  /** Milliseconds to wait for the connection file and for `connection_reply` (default 10 000). */
  timeout?: number;
  /**
   * Log every message sent and received, and every state transition of the task, engine and
   * Hub link actors (`actor task <msg_id>: pending -> done (REPLY)`), at level `"debug"`.
   */
  debug?: boolean;
  /**
   * Send direct-view requests straight to engines of ours on this host, when our controller
   * passes on where they listen: two hops per call instead of four, and the Hub still records
   * every task (`src/protocol/messages/direct.ts`). Default true; needs `--allow-sys` (host
   * name), else it stays off.
   */
  direct?: boolean;
  /** Header `username` (default `$USER`, else `"username"`). */
  username?: string;
  /** HMAC key overriding the file's. */
  key?: string;
  /** Tunnel every channel through this SSH server, `[user@]host[:port]` (system `ssh`). */
  sshserver?: string;
  /** Private key for the SSH tunnel (`ssh -i`); alone, tunnels through the controller host. */
  sshkey?: string;
  /**
   * Answer to ssh's prompts for the tunnel: the SSH server's password, and the passphrase of
   * an encrypted `sshkey` (ssh asks a helper through `SSH_ASKPASS`; the secret is never on a
   * command line; OpenSSH 8.4 or later). One attempt: a wrong one fails at once with ssh's
   * message. Without it ssh never prompts (`BatchMode`). Only with a tunnel: giving it for a
   * direct connection throws. (ipyparallel's `paramiko` has no equivalent: the system `ssh`.)
   */
  password?: string;
  /** The ssh program (default `"ssh"`). */
  sshCommand?: string;
  /** Where warnings (bad messages, stray replies) and debug lines go. */
  log?: Logger;
  /** Default of `block` for views and control methods (default false). */
  block?: boolean;
  /** Settled results kept for look-up by msg_id (default 10 000). */
  maxCachedResults?: number;
  /**
   * The most msg_ids `history` keeps (default 100 000, about 6.5 MB): the newest; when full
   * the oldest eighth is dropped at once. `Infinity` keeps all (ipyparallel's unbounded
   * list); 0 keeps none.
   */
  maxHistory?: number;
  /** How long a replied task waits for its IOPub idle, in ms (default 10 000). */
  outputTimeoutMs?: number;
  /** Controller liveness check period in ms while work is outstanding (default 1000; 0 = off). */
  livenessIntervalMs?: number;
}
