// Follows the frames of one direction of a relayed WebSocket (RFC 6455 5.2) without decoding or
// buffering them: frame headers are read, payloads skipped, except the first two bytes of a close
// frame (its status code, unmasked). The gRPC proxy uses it to add a close frame only between frames,
// and both relays to learn how a WebSocket was closed (span attributes).

/** Close code of a close frame without a status code (RFC 6455 7.4.1: "no status received"). */
export const WS_CLOSE_NO_STATUS = 1005;
/** Close code of a WebSocket that ended without a close frame (RFC 6455 7.4.1: "abnormal closure"). */
export const WS_CLOSE_ABNORMAL = 1006;

/** Opcode of a close frame. */
const OPCODE_CLOSE = 0x8;

/** Frame boundaries and the first close code of one direction of a WebSocket byte stream. */
export class FrameBoundary {
  readonly #header = Buffer.alloc(14);
  #have = 0;
  #need = 2;
  #payloadLeft = 0;
  /** Bytes of a close frame's status code still to read (0: not reading one). */
  #codeLeft = 0;
  #codeIndex = 0;
  #code = 0;
  #maskAt = -1;
  readonly #onClose: ((code: number) => void) | undefined;
  /** Status code of the first close frame seen ({@link WS_CLOSE_NO_STATUS} when it had none), else undefined. */
  closeCode: number | undefined;

  /** @param onClose told the code of the first close frame (once), as soon as it is known. */
  constructor(onClose?: (code: number) => void) {
    this.#onClose = onClose;
  }

  /** True when the bytes seen so far end exactly at the end of a frame. */
  get atBoundary(): boolean {
    return this.#have === 0 && this.#payloadLeft === 0;
  }

  /** Reads `chunk`, the next bytes of the stream (any split: frames may span chunks). */
  push(chunk: Buffer): void {
    let i = 0;
    while (i < chunk.length) {
      if (this.#payloadLeft > 0) {
        if (this.#codeLeft > 0) {
          const mask = this.#maskAt < 0 ? 0 : this.#header[this.#maskAt + this.#codeIndex];
          this.#code = (this.#code << 8) | (chunk[i++] ^ mask);
          this.#codeIndex++;
          this.#payloadLeft--;
          if (--this.#codeLeft === 0) this.#closed(this.#code);
          continue;
        }
        const n = Math.min(this.#payloadLeft, chunk.length - i);
        this.#payloadLeft -= n;
        i += n;
        continue;
      }
      this.#header[this.#have++] = chunk[i++];
      if (this.#have === 2) {
        const len7 = this.#header[1] & 0x7f;
        this.#need = 2 + (len7 === 126 ? 2 : len7 === 127 ? 8 : 0) + (this.#header[1] & 0x80 ? 4 : 0);
      }
      if (this.#have >= 2 && this.#have === this.#need) {
        const len7 = this.#header[1] & 0x7f;
        this.#payloadLeft =
          len7 === 126 ? this.#header.readUInt16BE(2) : len7 === 127 ? Number(this.#header.readBigUInt64BE(2)) : len7;
        if ((this.#header[0] & 0x0f) === OPCODE_CLOSE && this.closeCode === undefined) {
          if (this.#payloadLeft >= 2) {
            this.#codeLeft = 2;
            this.#codeIndex = 0;
            this.#code = 0;
            this.#maskAt = this.#header[1] & 0x80 ? this.#need - 4 : -1;
          } else this.#closed(WS_CLOSE_NO_STATUS);
        }
        this.#have = 0;
        this.#need = 2;
      }
    }
  }

  #closed(code: number): void {
    if (this.closeCode !== undefined) return;
    this.closeCode = code;
    this.#onClose?.(code);
  }
}
