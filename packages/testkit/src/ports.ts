// Free loopback ports for servers started by tests; never a fixed port, so suites can run
// beside the machine's own NATS and Redis and beside each other. The helpers live in
// @switchyard/local-tools (the CLI uses them too); the kit re-exports them.

export { canConnect, freePort } from '@switchyard/local-tools';
