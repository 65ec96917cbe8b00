/*
 * bundle.js: the decryption core of a dentsend bundle (docs/bundle-format.md, version 1).
 *
 * It reads the header and the encrypted chunks embedded in this page, derives the key from the
 * passphrase, decrypts and authenticates every chunk, undoes deflate and the pixel predictor,
 * and checks every file's size and SHA-256 — with WebCrypto and the browser's own inflater only:
 * no crypto library, no eval, no workers, no WebAssembly, no network.
 *
 * Interface (global, frozen; the viewer relies on it):
 *
 *   DentsendBundle.header()
 *       → the parsed header object (frozen): { format, version, kdf: {name, iterations, salt,
 *         check}, cipher, chunk_size, sender, created, files, input_bytes, part, parts }.
 *         Throws BundleError ("damaged" or "unsupported") if the page holds no valid header.
 *   DentsendBundle.supported()
 *       → { ok: boolean, missing: string[] }   what this browser lacks (WebCrypto,
 *         DecompressionStream "deflate-raw", …), in words a user can pass on.
 *   DentsendBundle.open(passphrase, onProgress)
 *       → Promise<{ manifest, manifestBlob: Blob, files: [{ name, size, sha256, blob: Blob, meta }],
 *                   views: Map<string, Blob>, verified: Promise<void> }>
 *         onProgress(fraction 0..1, label string) is called as it goes. Nothing is returned
 *         before every chunk is authenticated, every record parsed and every size checked; on
 *         any failure the promise rejects with a BundleError and no data is exposed.
 *         `verified` resolves once the SHA-256 of every decoded file matched (it starts after
 *         the first paint) and rejects with a "damaged" BundleError otherwise: offer no
 *         download before it resolves. `manifestBlob` holds manifest.json's exact bytes. `files` follow the
 *         manifest's order and `meta` is the file's manifest entry; `views` maps the names of
 *         view records (manifest `image.view.record`) to their Blobs.
 *         A wrong passphrase can be retried. Once the passphrase was right, open() frees each
 *         chunk's text as soon as it is decrypted (that is what lets a 500 MB package open), so
 *         a page can be unlocked once: to lock it again, reload it.
 *   class BundleError extends Error { kind }
 *       kind: "passphrase" | "damaged" | "unsupported" | "browser"; message: plain words for
 *       the user, ready to show in the role="alert" element.
 *   Both are also read-only properties of window (for test drivers with their own scope).
 *
 * Where the time goes (Chromium, 100 MB of 12-bit radiographs): PBKDF2 runs on the browser's
 * crypto thread (about 0.15 s, during which the first chunks are base64-decoded here); AES-GCM
 * too. On this thread: the browser's inflater (about 2.5 ns per byte it produces, which is why
 * 12-bit images travel as varints), undoing the predictor, SHA-256 (WebCrypto's digest runs on
 * the calling thread) and copying each file into a Blob.
 */

class BundleError extends Error {
  constructor(kind, message) {
    super(message);
    this.name = "BundleError";
    this.kind = kind;
  }
}

const DentsendBundle = (() => {
  "use strict";

  const FORMAT = "dentsend-bundle";
  const VERSION = 1;
  const CHUNK_SIZE = 1048576;
  const TAG_SIZE = 16;
  const MIN_ITERATIONS = 600000;
  const MAX_ITERATIONS = 10000000;
  const MAX_META_BYTES = 65536;
  const MAX_STRIP_BYTES = 16 << 20;
  const MAGIC = [0x44, 0x53, 0x42, 0x31]; // "DSB1"
  const encoder = new TextEncoder();
  const KEY_LABEL = encoder.encode("dentsend-bundle-v1 key");
  const CHECK_LABEL = encoder.encode("dentsend-bundle-v1 check");
  // The format's white space, spelled out: JavaScript's \s and Python's differ on a few.
  const SPACE = "[\\t\\n\\v\\f\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000\\ufeff]";
  const SPACE_RUN = new RegExp(SPACE + "+", "g");
  const SPACE_EDGES = new RegExp("^" + SPACE + "+|" + SPACE + "+$", "g");
  const BASE64_SPACE = /[\t\n\f\r ]+/g;
  const SHA256_HEX = /^[0-9a-f]{64}$/;
  const BAD_NAME = /[\/\\\u0000-\u001f\u007f]/;

  const MESSAGES = {
    passphrase:
      "That passphrase does not open this file. Please check it with the sender " +
      "(it came separately, by phone or text message) and try again.",
    empty: "Please type the passphrase you were given.",
    damaged:
      "This file is damaged or was changed after it was sent, so it cannot be shown. " +
      "Please ask the sender for a new one.",
    unsupported:
      "This file was made in a format this page cannot read. Please ask the sender for a new one.",
    notBundle: "This page holds no dentsend package. Please ask the sender for a new one.",
    again: "The files were already unlocked in this page. To unlock them again, reload the page.",
    bomb:
      "This file would unpack to far more than its own size, so it was not opened. " +
      "Please ask the sender for a new one.",
    tooLarge:
      "A file in this package is too large for this browser to hold in memory. Please try " +
      "another browser on a computer with more memory, or ask the sender to split the package.",
  };

  const damaged = () => new BundleError("damaged", MESSAGES.damaged);
  const bomb = () => new BundleError("damaged", MESSAGES.bomb);

  // The Python reader's expansion limits (format section 5): records may declare at most 16 GiB in
  // all, 4 GiB each, and 200 times the page once past 16 MiB. A bomb stops before it is inflated.
  const MAX_UNPACKED = 16 * 2 ** 30;
  const MAX_RECORD_UNPACKED = 4 * 2 ** 30;
  const MAX_EXPANSION = 200;
  const EXPANSION_FREE = 16 * 2 ** 20;
  const unsupported = () => new BundleError("unsupported", MESSAGES.unsupported);

  function browserError(missing) {
    return new BundleError(
      "browser",
      "This browser cannot open the file (it lacks " + missing.join(", ") + "). " +
        "Please open it in a current version of Chrome, Edge, Firefox or Safari."
    );
  }

  function deepFreeze(value) {
    if (value && typeof value === "object" && !Object.isFrozen(value)) {
      Object.freeze(value);
      for (const key of Object.keys(value)) deepFreeze(value[key]);
    }
    return value;
  }

  // ------------------------------------------------------------------------------------------
  // what the browser must have

  function supported() {
    const missing = [];
    const subtle = globalThis.crypto && globalThis.crypto.subtle;
    if (!subtle || typeof subtle.decrypt !== "function" || typeof subtle.deriveBits !== "function") {
      missing.push("WebCrypto (window.crypto.subtle)");
    }
    try {
      new DecompressionStream("deflate-raw");
    } catch (e) {
      missing.push('DecompressionStream("deflate-raw")');
    }
    for (const name of ["TextDecoder", "Blob", "Map", "Promise", "Uint8Array"]) {
      if (typeof globalThis[name] !== "function") missing.push(name);
    }
    return Object.freeze({ ok: missing.length === 0, missing: Object.freeze(missing) });
  }

  // ------------------------------------------------------------------------------------------
  // base64 (Uint8Array.fromBase64 where the browser has it)

  function decodeBase64(text) {
    const clean = text.replace(BASE64_SPACE, "");
    if (clean.length % 4 !== 0) throw damaged();
    try {
      if (typeof Uint8Array.fromBase64 === "function") return Uint8Array.fromBase64(clean);
      const binary = atob(clean);
      const out = new Uint8Array(binary.length);
      for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
      return out;
    } catch (e) {
      throw damaged();
    }
  }

  // ------------------------------------------------------------------------------------------
  // the header

  let cachedHeader = null;
  let headerText = null;

  function isInt(value, low, high) {
    return Number.isSafeInteger(value) && value >= low && value <= high;
  }

  function header() {
    if (cachedHeader) return cachedHeader;
    const elements = document.querySelectorAll('script[id="dentsend-header"]');
    if (elements.length === 0) throw new BundleError("unsupported", MESSAGES.notBundle);
    const first = document.querySelector("script.dentsend-chunk");
    if (
      elements.length > 1 ||
      (first && elements[0].compareDocumentPosition(first) & Node.DOCUMENT_POSITION_PRECEDING)
    ) {
      throw damaged();
    }
    const text = elements[0].textContent;
    let data;
    try {
      data = JSON.parse(text);
    } catch (e) {
      throw damaged();
    }
    if (!data || typeof data !== "object" || data.format !== FORMAT) {
      throw new BundleError("unsupported", MESSAGES.notBundle);
    }
    if (Number.isSafeInteger(data.version) && data.version > VERSION) throw unsupported();
    if (data.version !== VERSION) throw damaged();
    const kdf = data.kdf;
    if (!kdf || typeof kdf !== "object") throw damaged();
    if (kdf.name !== "PBKDF2-HMAC-SHA256" || data.cipher !== "AES-256-GCM") throw unsupported();
    if (data.chunk_size !== CHUNK_SIZE) throw damaged();
    if (!isInt(kdf.iterations, MIN_ITERATIONS, MAX_ITERATIONS)) throw damaged();
    strictBase64(kdf.salt, 16, 64);
    strictBase64(kdf.check, 16, 16);
    const parts = data.parts === undefined ? 1 : data.parts;
    if (!isInt(parts, 1, 10000)) throw damaged();
    const fields = {
      sender: [data.sender, ""],
      created: [data.created, ""],
    };
    for (const key of Object.keys(fields)) {
      const value = fields[key][0] === undefined ? fields[key][1] : fields[key][0];
      if (typeof value !== "string" || value.length > (key === "sender" ? 500 : 64)) throw damaged();
    }
    const files = data.files === undefined ? 0 : data.files;
    const inputBytes = data.input_bytes === undefined ? 0 : data.input_bytes;
    const part = data.part === undefined ? 1 : data.part;
    if (!isInt(files, 0, 1000000) || !isInt(inputBytes, 0, 2 ** 53) || !isInt(part, 1, parts)) {
      throw damaged();
    }
    headerText = text;
    cachedHeader = deepFreeze({
      format: FORMAT,
      version: VERSION,
      kdf: { name: kdf.name, iterations: kdf.iterations, salt: kdf.salt, check: kdf.check },
      cipher: data.cipher,
      chunk_size: CHUNK_SIZE,
      sender: data.sender || "",
      created: data.created || "",
      files: files,
      input_bytes: inputBytes,
      part: part,
      parts: parts,
    });
    return cachedHeader;
  }

  function strictBase64(value, low, high) {
    if (typeof value !== "string" || !/^[A-Za-z0-9+/]*={0,2}$/.test(value)) throw damaged();
    const bytes = decodeBase64(value);
    if (bytes.length < low || bytes.length > high) throw damaged();
    return bytes;
  }

  // ------------------------------------------------------------------------------------------
  // keys (format section 3)

  function normalisePassphrase(text) {
    return String(text).normalize("NFC").replace(SPACE_EDGES, "").replace(SPACE_RUN, " ");
  }

  async function deriveKey(passphrase, head) {
    const subtle = crypto.subtle;
    const normalised = normalisePassphrase(passphrase);
    if (!normalised) throw new BundleError("passphrase", MESSAGES.empty);
    const material = await subtle.importKey(
      "raw", encoder.encode(normalised), "PBKDF2", false, ["deriveBits"]
    );
    const master = await subtle.deriveBits(
      { name: "PBKDF2", hash: "SHA-256", salt: decodeBase64(head.kdf.salt), iterations: head.kdf.iterations },
      material,
      256
    );
    const hmacKey = await subtle.importKey(
      "raw", master, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]
    );
    const check = new Uint8Array(await subtle.sign("HMAC", hmacKey, CHECK_LABEL)).subarray(0, 16);
    const expected = decodeBase64(head.kdf.check);
    let diff = 0;
    for (let i = 0; i < 16; i++) diff |= check[i] ^ expected[i];
    if (diff !== 0) throw new BundleError("passphrase", MESSAGES.passphrase);
    const raw = await subtle.sign("HMAC", hmacKey, KEY_LABEL);
    return subtle.importKey("raw", raw, { name: "AES-GCM" }, false, ["decrypt"]);
  }

  function nonce(index, last) {
    // 88-bit big-endian chunk index, then the last-chunk flag (section 4).
    const iv = new Uint8Array(12);
    let value = index;
    for (let i = 10; i >= 0 && value > 0; i--) {
      iv[i] = value % 256;
      value = Math.floor(value / 256);
    }
    iv[11] = last ? 1 : 0;
    return iv;
  }

  // ------------------------------------------------------------------------------------------
  // the predictor (section 6), undone strip by strip into the file's buffer

  const littleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

  class Unpredictor {
    constructor(p, out) {
      this.p = p;
      this.out = out;
      this.start = p.offset;
      this.end = p.offset + p.length;
      this.position = 0;
      this.samples = p.length / p.sample_bytes;
      this.rows = this.samples / p.row_samples;
      this.row = 0;
      this.strip = new Uint8Array(p.strip_rows * p.row_samples * p.sample_bytes);
      this.fill = 0;
      if (p.sample_bytes === 2 && littleEndian && (out.byteOffset + p.offset) % 2 === 0) {
        this.words = new Uint16Array(out.buffer, out.byteOffset + p.offset, this.samples);
      } else if (p.sample_bytes === 1) {
        this.words = out.subarray(p.offset, p.offset + p.length);
      } else {
        this.words = null; // odd offset or big-endian machine: byte by byte
      }
    }

    stripLength() {
      const rows = Math.min(this.p.strip_rows, this.rows - this.row);
      return rows * this.p.row_samples * this.p.sample_bytes;
    }

    push(bytes) {
      let i = 0;
      while (i < bytes.length) {
        if (this.position < this.start || this.position >= this.end) {
          const limit = this.position < this.start ? this.start - this.position : bytes.length - i;
          const n = Math.min(limit, bytes.length - i);
          if (this.position + n > this.out.length) throw damaged();
          this.out.set(bytes.subarray(i, i + n), this.position);
          this.position += n;
          i += n;
          continue;
        }
        const length = this.stripLength();
        const n = Math.min(length - this.fill, bytes.length - i);
        this.strip.set(bytes.subarray(i, i + n), this.fill);
        this.fill += n;
        this.position += n;
        i += n;
        if (this.fill === length) {
          this.undoStrip(length);
          this.fill = 0;
        }
      }
    }

    undoStrip(length) {
      const p = this.p;
      const n = length / p.sample_bytes;
      const k0 = this.row * p.row_samples;
      if (p.sample_bytes === 1) undo8(this.words, this.strip, n, k0, p.row_samples, p.pixel_samples);
      else if (this.words) undo16(this.words, this.strip, n, k0, p.row_samples, p.pixel_samples);
      else undo16Bytes(this.out, this.start, this.strip, n, k0, p.row_samples, p.pixel_samples);
      this.row += n / p.row_samples;
    }

    finish() {
      if (this.fill !== 0 || this.position < this.end) throw damaged();
    }
  }

  // The varint layout (section 6): LEB128 values, undone as they arrive, one sample at a time,
  // straight into the file's buffer; no strip is buffered.
  class VarintUnpredictor {
    constructor(p, out) {
      this.p = p;
      this.out = out;
      this.start = p.offset;
      this.end = p.offset + p.length;
      this.samples = p.length / 2;
      this.position = 0; // bytes of the file written
      this.k = 0; // samples decoded
      this.acc = 0;
      this.shift = 0;
      this.aligned = littleEndian && (out.byteOffset + p.offset) % 2 === 0;
      // Unaligned (or a big-endian machine): decode into a scratch array, copy at the end.
      this.words = this.aligned
        ? new Uint16Array(out.buffer, out.byteOffset + p.offset, this.samples)
        : new Uint16Array(this.samples);
    }

    push(bytes) {
      let i = 0;
      while (i < bytes.length) {
        if (this.position < this.start || this.k === this.samples) {
          const limit = this.position < this.start ? this.start - this.position : bytes.length - i;
          const n = Math.min(limit, bytes.length - i);
          if (this.position + n > this.out.length) throw damaged();
          this.out.set(bytes.subarray(i, i + n), this.position);
          this.position += n;
          i += n;
          continue;
        }
        i = this.decode(bytes, i);
        if (this.k === this.samples) this.endRegion();
      }
    }

    decode(bytes, from) {
      const w = this.words;
      const rowSamples = this.p.row_samples;
      const pixelSamples = this.p.pixel_samples;
      const n = this.samples;
      const length = bytes.length;
      let k = this.k;
      let acc = this.acc;
      let shift = this.shift;
      let i = from;
      for (; i < length && k < n; i++) {
        const b = bytes[i];
        if (b & 0x80) {
          acc |= (b & 0x7f) << shift;
          shift += 7;
          if (shift > 14) throw damaged(); // a fourth byte: more than 16 bits
          continue;
        }
        const z = acc | (b << shift);
        if (z > 0xffff) throw damaged();
        acc = 0;
        shift = 0;
        const d = (z >>> 1) ^ -(z & 1);
        if (k >= rowSamples) w[k] = w[k - rowSamples] + d;
        else w[k] = (k >= pixelSamples ? w[k - pixelSamples] : 0) + d;
        k++;
      }
      this.k = k;
      this.acc = acc;
      this.shift = shift;
      return i;
    }

    endRegion() {
      if (!this.aligned) {
        for (let k = 0; k < this.samples; k++) {
          this.out[this.start + 2 * k] = this.words[k] & 255;
          this.out[this.start + 2 * k + 1] = this.words[k] >>> 8;
        }
      }
      this.position = this.end;
    }

    finish() {
      if (this.k !== this.samples || this.shift !== 0 || this.position < this.end) throw damaged();
    }
  }

  // The inverse transform of one strip, one function per layout so each hot loop stays
  // monomorphic. z holds the strip's low-byte plane then its high-byte plane (16-bit) or its
  // bytes (8-bit); k0 is the strip's first sample. Typed-array stores wrap modulo 2^16 / 2^8,
  // which is exactly the format's arithmetic.
  function undo16(w, z, n, k0, rowSamples, pixelSamples) {
    let j = 0;
    if (k0 === 0) {
      // First row: each sample from the one before it of the same channel.
      const first = Math.min(rowSamples, n);
      for (; j < first; j++) {
        const zz = z[j] | (z[n + j] << 8);
        w[j] = (j >= pixelSamples ? w[j - pixelSamples] : 0) + ((zz >>> 1) ^ -(zz & 1));
      }
    }
    for (let k = k0 + j; j < n; j++, k++) {
      const zz = z[j] | (z[n + j] << 8);
      w[k] = w[k - rowSamples] + ((zz >>> 1) ^ -(zz & 1));
    }
  }

  function undo16Bytes(out, start, z, n, k0, rowSamples, pixelSamples) {
    // Unaligned region (or a big-endian machine): the same, byte by byte.
    for (let j = 0; j < n; j++) {
      const k = k0 + j;
      const zz = z[j] | (z[n + j] << 8);
      let above = 0;
      const from = k >= rowSamples ? k - rowSamples : k >= pixelSamples ? k - pixelSamples : -1;
      if (from >= 0) above = out[start + 2 * from] | (out[start + 2 * from + 1] << 8);
      const value = (above + ((zz >>> 1) ^ -(zz & 1))) & 0xffff;
      out[start + 2 * k] = value & 255;
      out[start + 2 * k + 1] = value >>> 8;
    }
  }

  function undo8(w, z, n, k0, rowSamples, pixelSamples) {
    let j = 0;
    if (k0 === 0) {
      const first = Math.min(rowSamples, n);
      for (; j < first; j++) {
        w[j] = (j >= pixelSamples ? w[j - pixelSamples] : 0) + ((z[j] >>> 1) ^ -(z[j] & 1));
      }
    }
    for (let k = k0 + j; j < n; j++, k++) {
      w[k] = w[k - rowSamples] + ((z[j] >>> 1) ^ -(z[j] & 1));
    }
  }

  function checkPredict(p, size) {
    if (!p || typeof p !== "object") throw damaged();
    const names = ["offset", "length", "sample_bytes", "row_samples", "pixel_samples", "strip_rows"];
    for (const name of names) if (!Number.isSafeInteger(p[name])) throw damaged();
    const ok =
      (p.sample_bytes === 1 || p.sample_bytes === 2) &&
      p.offset >= 0 &&
      p.length > 0 &&
      p.offset + p.length <= size &&
      p.pixel_samples > 0 &&
      p.pixel_samples <= p.row_samples &&
      p.row_samples % p.pixel_samples === 0 &&
      p.length % (p.row_samples * p.sample_bytes) === 0 &&
      p.strip_rows > 0 &&
      p.strip_rows * p.row_samples * p.sample_bytes <= MAX_STRIP_BYTES;
    if (!ok) throw damaged();
    const layout = p.layout === undefined ? "planes" : p.layout;
    if (layout !== "planes" && layout !== "varint") throw unsupported();
    if (layout === "varint" && p.sample_bytes !== 2) throw damaged();
    return Object.assign({}, p, { layout });
  }

  // ------------------------------------------------------------------------------------------
  // records (section 5)

  function parseMeta(bytes) {
    let meta;
    try {
      meta = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
    } catch (e) {
      throw damaged();
    }
    if (!meta || typeof meta !== "object") throw damaged();
    const name = meta.name;
    if (
      typeof name !== "string" ||
      name.length === 0 ||
      encoder.encode(name).length > 200 ||
      name.startsWith(".") ||
      BAD_NAME.test(name) ||
      name !== name.trim() ||
      /[\ud800-\udfff]/.test(name)
    ) {
      throw damaged();
    }
    if (typeof meta.role !== "string") throw damaged();
    if (!isInt(meta.size, 0, 2 ** 40) || !isInt(meta.length, 0, 2 ** 40)) throw damaged();
    if (typeof meta.sha256 !== "string" || !SHA256_HEX.test(meta.sha256)) throw damaged();
    const encodings = meta.encodings === undefined ? [] : meta.encodings;
    if (!Array.isArray(encodings) || encodings.some((e) => typeof e !== "string")) throw damaged();
    if (encodings.some((e) => e !== "deflate-raw" && e !== "predict")) throw unsupported();
    if (new Set(encodings).size !== encodings.length) throw damaged();
    const inflate = encodings.includes("deflate-raw");
    const predict = encodings.includes("predict") ? checkPredict(meta.predict, meta.size) : null;
    if (!inflate) {
      // Stored as is, or varints stored without deflate (they may be longer than the values).
      const varint = predict && predict.layout === "varint";
      if (!varint && meta.length !== meta.size) throw damaged();
      if (varint && meta.length > meta.size + predict.length / 2) throw damaged();
    }
    return { name, role: meta.role, size: meta.size, sha256: meta.sha256, length: meta.length, inflate, predict };
  }

  class RecordDecoder {
    constructor(meta) {
      this.meta = meta;
      this.produced = 0;
      this.consumed = 0;
      try {
        this.out = new Uint8Array(meta.size);
      } catch (e) {
        throw new BundleError("browser", MESSAGES.tooLarge);
      }
      const predict = meta.predict;
      this.unpredictor = !predict
        ? null
        : predict.layout === "varint"
          ? new VarintUnpredictor(predict, this.out)
          : new Unpredictor(predict, this.out);
      // What inflate may produce: varints take up to 3 bytes per 2-byte sample.
      this.limit = meta.size + (predict && predict.layout === "varint" ? predict.length / 2 : 0);
      this.failure = null;
      if (meta.inflate) {
        const stream = new DecompressionStream("deflate-raw");
        this.writer = stream.writable.getWriter();
        this.reader = stream.readable.getReader();
        this.pump = this.readAll();
        this.pump.catch(() => {});
      }
    }

    get remaining() {
      return this.meta.length - this.consumed;
    }

    async readAll() {
      for (;;) {
        const { value, done } = await this.reader.read();
        if (done) return;
        try {
          this.accept(value);
        } catch (error) {
          this.failure = error;
          // Cancelling the readable side errors the writable side, so a pending write stops.
          this.reader.cancel().catch(() => {});
          throw error;
        }
      }
    }

    accept(bytes) {
      if (this.produced + bytes.length > this.limit) throw damaged(); // a deflate bomb stops here
      if (this.unpredictor) this.unpredictor.push(bytes);
      else this.out.set(bytes, this.produced);
      this.produced += bytes.length;
    }

    async feed(bytes) {
      this.consumed += bytes.length;
      if (!this.meta.inflate) {
        this.accept(bytes);
        return;
      }
      try {
        await this.writer.ready;
      } catch (e) {
        throw this.failure || damaged();
      }
      this.writer.write(bytes).catch(() => {});
    }

    // Resolves to the decoded bytes once size and SHA-256 are checked (the digest runs in the
    // browser's own threads while the next records are decoded).
    async finish() {
      if (this.meta.inflate) {
        try {
          await this.writer.close();
          await this.pump;
        } catch (e) {
          throw this.failure || damaged();
        }
      }
      if (this.unpredictor) {
        this.unpredictor.finish();
        if (this.unpredictor.position !== this.meta.size) throw damaged();
      } else if (this.produced !== this.meta.size) {
        throw damaged();
      }
      const out = this.out;
      this.out = null;
      this.unpredictor = null;
      // Stored records are the very bytes AES-GCM just authenticated, and the writer hashed the
      // same bytes: a second hash would only cost time (format section 5). Decoded records are
      // hashed too, but after the viewer is shown (see `verified` in decryptAll).
      this.needsCheck = Boolean(this.meta.inflate || this.meta.predict);
      return out;
    }
  }

  function hex(bytes) {
    let text = "";
    for (let i = 0; i < bytes.length; i++) text += (bytes[i] < 16 ? "0" : "") + bytes[i].toString(16);
    return text;
  }

  class StreamParser {
    constructor(packed) {
      this.packed = packed;
      this.unpacked = 0;
      this.state = "magic";
      this.need = 4;
      this.small = new Uint8Array(MAX_META_BYTES);
      this.fill = 0;
      this.decoder = null;
      this.records = []; // { meta, done: Promise<Blob | Uint8Array> }
      this.names = new Set();
      this.manifests = 0;
    }

    async feed(bytes) {
      let i = 0;
      while (i < bytes.length) {
        if (this.state === "end") throw damaged();
        if (this.state === "data") {
          const n = Math.min(bytes.length - i, this.decoder.remaining);
          await this.decoder.feed(bytes.subarray(i, i + n));
          i += n;
          if (this.decoder.remaining === 0) this.endRecord();
          continue;
        }
        const n = Math.min(bytes.length - i, this.need - this.fill);
        this.small.set(bytes.subarray(i, i + n), this.fill);
        this.fill += n;
        i += n;
        if (this.fill === this.need) this.advance();
      }
    }

    advance() {
      const data = this.small.subarray(0, this.need);
      this.fill = 0;
      if (this.state === "magic") {
        if (MAGIC.some((b, i) => data[i] !== b)) {
          if (MAGIC.slice(0, 3).every((b, i) => data[i] === b)) throw unsupported();
          throw damaged();
        }
        this.state = "length";
        this.need = 4;
      } else if (this.state === "length") {
        const length = ((data[0] << 24) >>> 0) + (data[1] << 16) + (data[2] << 8) + data[3];
        if (length === 0) {
          this.state = "end";
        } else if (length > MAX_META_BYTES) {
          throw damaged();
        } else {
          this.state = "meta";
          this.need = length;
        }
      } else if (this.state === "meta") {
        const meta = parseMeta(data);
        if (this.names.has(meta.name)) throw damaged();
        this.names.add(meta.name);
        this.unpacked += meta.size;
        if (
          meta.size > MAX_RECORD_UNPACKED ||
          this.unpacked > MAX_UNPACKED ||
          (this.unpacked > EXPANSION_FREE && this.unpacked > MAX_EXPANSION * this.packed)
        ) {
          throw bomb();
        }
        if (meta.role === "manifest" && ++this.manifests > 1) throw damaged();
        this.decoder = new RecordDecoder(meta);
        this.state = "data";
        if (meta.length === 0) this.endRecord();
      }
    }

    endRecord() {
      const decoder = this.decoder;
      this.decoder = null;
      const meta = decoder.meta;
      // Once checked, a file's bytes move into a Blob (which the browser may keep outside the
      // page's memory, even on disk) and the array is dropped; only the manifest stays bytes.
      const done = decoder
        .finish()
        .then((bytes) =>
          meta.role === "manifest" ? bytes : new Blob([bytes], { type: "application/octet-stream" })
        );
      done.catch(() => {});
      this.records.push({ meta: decoder.meta, done, decoder });
      this.state = "length";
      this.need = 4;
    }

    finish() {
      if (this.state !== "end") throw damaged();
    }
  }

  // ------------------------------------------------------------------------------------------
  // open

  let state = "locked"; // "locked" | "opening" | "consumed"

  function checkManifest(manifest, files, head) {
    if (!manifest || typeof manifest !== "object" || manifest.format !== "dentsend-manifest") {
      throw damaged();
    }
    if (Number.isSafeInteger(manifest.version) && manifest.version > 1) throw unsupported();
    if (manifest.version !== 1 || !Array.isArray(manifest.files)) throw damaged();
    const listed = new Set();
    for (const entry of manifest.files) {
      if (!entry || typeof entry !== "object" || typeof entry.name !== "string") throw damaged();
      const file = files.get(entry.name);
      if (!file || listed.has(entry.name)) throw damaged();
      listed.add(entry.name);
      if (entry.size !== file.size || entry.sha256 !== file.sha256) throw damaged();
    }
    if (listed.size !== files.size || head.files !== files.size) throw damaged();
  }

  async function open(passphrase, onProgress) {
    const progress = typeof onProgress === "function" ? onProgress : () => {};
    const support = supported();
    if (!support.ok) throw browserError(support.missing);
    if (state !== "locked") throw new BundleError("browser", MESSAGES.again);
    const head = header();
    state = "opening";
    let key;
    const elements = Array.from(document.querySelectorAll("script.dentsend-chunk"));
    let early = new Map();
    try {
      progress(0, "Checking the passphrase…");
      const deriving = deriveKey(passphrase, head);
      deriving.catch(() => {});
      // PBKDF2 runs on the browser's crypto thread; meanwhile this thread base64-decodes the
      // first chunks (the text stays, in case the passphrase is wrong and is typed again).
      early = decodeAhead(elements, PREDECODE_MS);
      key = await deriving;
    } catch (error) {
      state = "locked";
      if (error instanceof BundleError) throw error;
      throw browserError(["a working WebCrypto"]);
    }
    state = "consumed";
    try {
      return await decryptAll(key, head, progress, elements, early);
    } catch (error) {
      if (error instanceof BundleError) throw error;
      if (error instanceof RangeError) throw new BundleError("browser", MESSAGES.tooLarge);
      throw damaged();
    }
  }

  // How long to spend decoding ahead while the key is derived (PBKDF2 takes 0.15–0.5 s).
  const PREDECODE_MS = 120;

  function decodeAhead(elements, budget) {
    const started = performance.now();
    const decoded = new Map();
    for (let i = 0; i < elements.length && performance.now() - started < budget; i++) {
      try {
        decoded.set(i, decodeBase64(elements[i].textContent));
      } catch (e) {
        break; // a damaged chunk is reported in order, by decryptAll
      }
    }
    return decoded;
  }

  async function decryptAll(key, head, progress, elements, early) {
    const count = elements.length;
    if (count === 0) throw damaged();
    const aad = encoder.encode(headerText);
    // About the page's size, as the Python reader measures it: full chunks as base64, and the last.
    const lastText = elements[count - 1].textContent.length;
    const parser = new StreamParser(((count - 1) * (CHUNK_SIZE + TAG_SIZE) * 4) / 3 + lastText);

    const decrypt = (index) => {
      const element = elements[index];
      const sealed = early.has(index) ? early.get(index) : decodeBase64(element.textContent);
      early.delete(index);
      element.textContent = ""; // the text is no longer needed: free it now
      elements[index] = null;
      if (sealed.length < TAG_SIZE || sealed.length > CHUNK_SIZE + TAG_SIZE) throw damaged();
      const last = index === count - 1;
      return crypto.subtle
        .decrypt({ name: "AES-GCM", iv: nonce(index, last), additionalData: aad, tagLength: 128 }, key, sealed)
        .then(
          (plain) => {
            const bytes = new Uint8Array(plain);
            if ((!last && bytes.length !== CHUNK_SIZE) || (last && bytes.length === 0 && index > 0)) {
              throw damaged();
            }
            return bytes;
          },
          () => {
            throw damaged();
          }
        );
    };

    // One chunk decrypts (in the browser's crypto thread) while the previous one is parsed.
    let next = decrypt(0);
    for (let index = 0; index < count; index++) {
      const plain = await next;
      if (index + 1 < count) {
        next = decrypt(index + 1);
        next.catch(() => {});
      }
      await parser.feed(plain);
      const done = Math.min(1, ((index + 1) * CHUNK_SIZE) / Math.max(1, count * CHUNK_SIZE));
      progress(0.02 + 0.93 * done, "Decrypting… " + Math.round(done * 100) + " %");
    }
    parser.finish();

    progress(0.96, "Checking the files…");
    const decoded = await Promise.all(parser.records.map((r) => r.done));
    const files = new Map();
    const views = new Map();
    let manifestBytes = null;
    parser.records.forEach((record, i) => {
      const meta = record.meta;
      if (meta.role === "manifest") manifestBytes = decoded[i];
      else if (meta.role === "file") files.set(meta.name, meta);
      else if (meta.role === "view") views.set(meta.name, decoded[i]);
    });
    if (manifestBytes === null) throw damaged();
    let manifest;
    try {
      manifest = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(manifestBytes));
    } catch (e) {
      throw damaged();
    }
    checkManifest(manifest, files, head);

    const byName = new Map();
    parser.records.forEach((record, i) => byName.set(record.meta.name, decoded[i]));
    // SHA-256 of every decoded file, checked after the first paint: WebCrypto's digest runs on
    // this thread in Chromium (about 1 ms per MB), and AES-GCM has already authenticated every
    // byte the sender wrote; this checks our own inflating and un-predicting of them. The viewer
    // offers no download before it resolves, and shows the "damaged" message if it rejects.
    const toCheck = parser.records
      .map((record, i) => ({ meta: record.meta, data: decoded[i], check: record.decoder.needsCheck }))
      .filter((item) => item.check);
    parser.records.forEach((record) => {
      record.decoder = null;
    });
    const verified = afterFirstPaint().then(async () => {
      for (const item of toCheck) {
        const bytes = item.data instanceof Blob ? await item.data.arrayBuffer() : item.data;
        const digest = await crypto.subtle.digest("SHA-256", bytes);
        if (hex(new Uint8Array(digest)) !== item.meta.sha256) throw damaged();
      }
    });
    verified.catch(() => {});
    const result = {
      verified: verified,
      manifestBlob: new Blob([manifestBytes], { type: "application/json" }),
      manifest: deepFreeze(manifest),
      files: manifest.files.map((entry) =>
        Object.freeze({
          name: entry.name,
          size: entry.size,
          sha256: entry.sha256,
          blob: byName.get(entry.name),
          meta: entry,
        })
      ),
      views: views,
    };
    progress(1, "Done");
    return result;
  }

  // Resolves after the browser has had a chance to paint (or after 100 ms in a hidden tab,
  // where animation frames do not run).
  function afterFirstPaint() {
    return new Promise((resolve) => {
      let started = false;
      const go = () => {
        if (!started) {
          started = true;
          setTimeout(resolve, 0);
        }
      };
      requestAnimationFrame(go);
      setTimeout(go, 100);
    });
  }

  return Object.freeze({
    header: header,
    supported: supported,
    open: open,
    formatVersion: VERSION,
  });
})();

// Also as (read-only) properties of the window, so that test drivers that evaluate scripts in
// their own scope (Marionette, WebDriver) reach the same objects the viewer uses.
for (const [name, value] of [["DentsendBundle", DentsendBundle], ["BundleError", BundleError]]) {
  Object.defineProperty(globalThis, name, { value, writable: false, enumerable: false, configurable: false });
}
