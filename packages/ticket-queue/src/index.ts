// @switchyard/ticket-queue: tickets on a per-region JetStream work-queue stream.

export type { PulledTicket, TicketQueueOptions } from './ticket-queue.ts';
export { TicketConsumer, TicketQueue } from './ticket-queue.ts';
