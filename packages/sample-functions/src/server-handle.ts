// Binds a grpc-js server for a sample function and wraps it in a handle that tests and the dev
// stack use to find, stop or crash it.

import { randomUUID } from 'node:crypto';
import * as net from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { UNLIMITED_MESSAGE_OPTIONS } from './proto-load.ts';

/** Options of startEchoServer() and startInferenceServer(); every field is optional. */
export interface SampleServerOptions {
  /** TCP port to listen on. @default 0 (a free port chosen by the OS) */
  port?: number;
  /** Interface to bind. @default '127.0.0.1' */
  host?: string;
  /** Id reported in responses as this container's instance id. @default a random UUID */
  instanceId?: string;
  /** How long stop() waits for calls in flight before forcing them closed, in ms. @default 2000 */
  shutdownGraceMs?: number;
}

/** Resolved, frozen form of SampleServerOptions. */
export interface SampleServerConfig {
  readonly port: number;
  readonly host: string;
  readonly instanceId: string;
  readonly shutdownGraceMs: number;
}

/** A running sample server. */
export interface SampleServerHandle {
  /** The TCP port the server listens on. */
  readonly port: number;
  /** `host:port` a local client can dial (`127.0.0.1:port` when bound to a wildcard address). */
  readonly address: string;
  /** Id of this server instance, as reported in responses. */
  readonly instanceId: string;
  /** Stops accepting calls, waits up to shutdownGraceMs for calls in flight, then forces the rest closed. */
  stop(): Promise<void>;
  /** Closes every connection and call at once, as a crashed container would. */
  kill(): void;
}

/** Default bind interface of the sample servers. */
export const DEFAULT_HOST = '127.0.0.1';
/** Default grace period of SampleServerHandle.stop(), in ms. */
export const DEFAULT_SHUTDOWN_GRACE_MS = 2000;

/** How long after the grace period stop() resets connections that are still open, in ms. */
const HARD_STOP_AFTER_GRACE_MS = 1000;

/** Fills in defaults and freezes the result. */
export function resolveServerConfig(options: SampleServerOptions = {}): SampleServerConfig {
  const port = options.port ?? 0;
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new RangeError(`port must be an integer in 0..65535, got ${port}`);
  }
  return Object.freeze({
    port,
    host: options.host ?? DEFAULT_HOST,
    instanceId: options.instanceId ?? randomUUID(),
    shutdownGraceMs: options.shutdownGraceMs ?? DEFAULT_SHUTDOWN_GRACE_MS,
  });
}

function dialAddress(host: string, port: number): string {
  if (host === '' || host === '0.0.0.0' || host === '::' || host === '[::]') return `127.0.0.1:${port}`;
  if (host.includes(':') && !host.startsWith('[')) return `[${host}]:${port}`;
  return `${host}:${port}`;
}

/**
 * Starts a server with one service and resolves once it listens. The TCP listener is ours and feeds
 * grpc-js through a connection injector, so kill() can reset the sockets the way a dying process
 * would (clients see UNAVAILABLE) instead of grpc-js's polite GOAWAY (CANCELLED).
 */
export async function listenSampleServer(
  config: SampleServerConfig,
  service: grpc.ServiceDefinition,
  implementation: grpc.UntypedServiceImplementation,
): Promise<SampleServerHandle> {
  const server = new grpc.Server(UNLIMITED_MESSAGE_OPTIONS);
  server.addService(service, implementation);
  const injector = server.createConnectionInjector(grpc.ServerCredentials.createInsecure());
  const sockets = new Set<net.Socket>();
  const listener = net.createServer((socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    injector.injectConnection(socket);
  });
  try {
    await new Promise<void>((resolve, reject) => {
      listener.once('error', reject);
      listener.listen(config.port, config.host.replace(/^\[(.*)\]$/, '$1'), () => {
        listener.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    server.forceShutdown();
    throw err;
  }
  const port = (listener.address() as net.AddressInfo).port;
  let stopping: Promise<void> | undefined;
  return {
    port,
    address: dialAddress(config.host, port),
    instanceId: config.instanceId,
    stop() {
      // grpc-js tryShutdown() does not wait for injected connections, so drain them ourselves:
      // GOAWAY now, cancel streams after the grace period, reset whatever is still open after that.
      stopping ??= new Promise<void>((resolve) => {
        listener.close();
        injector.drain(config.shutdownGraceMs);
        let finished = false;
        const finish = () => {
          if (finished) return;
          finished = true;
          clearTimeout(hard);
          server.forceShutdown();
          resolve();
        };
        const hard = setTimeout(() => {
          for (const socket of sockets) socket.resetAndDestroy();
          finish();
        }, config.shutdownGraceMs + HARD_STOP_AFTER_GRACE_MS);
        if (sockets.size === 0) return finish();
        for (const socket of sockets) {
          socket.once('close', () => {
            if (sockets.size === 0) finish();
          });
        }
      });
      return stopping;
    },
    kill() {
      listener.close();
      for (const socket of sockets) socket.resetAndDestroy();
      server.forceShutdown();
    },
  };
}
