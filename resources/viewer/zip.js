/*
 * zip.js: writes a standard ZIP archive of Blobs, for "Download all".
 *
 * Entries are STOREd (radiographs are either compressed already or were only compressed for the
 * trip inside the bundle; the recipient wants the files, fast). The archive is assembled as a Blob
 * whose parts are the headers and the original file Blobs, so the bytes of the files are not
 * copied in memory (small files excepted): only the CRC-32 needs one pass over them.
 *
 * Layout (APPNOTE.TXT 6.3.10): per entry a local file header + data; then the central directory;
 * ZIP64 end records whenever a size or offset reaches 0xFFFFFFFF or there are more than 65,535
 * entries; then the end of central directory record. File names are UTF-8 with general purpose
 * bit 11 set, so any unzip tool shows them as they are.
 *
 * API:
 *   DentsendZip.build(entries, options) -> Promise<Blob>
 *     entries: [{ name: string, data: Blob | Uint8Array }]
 *     options: { date: Date (entry time stamp), onProgress(fraction), forceZip64: boolean (tests) }
 *   DentsendZip.crc32(bytes: Uint8Array, crc = 0) -> number   (running CRC, pass the previous value)
 */
const DentsendZip = (() => {
  "use strict";

  const MAX32 = 0xffffffff;
  const MAX16 = 0xffff;
  const READ_PIECE = 8 * 1024 * 1024;
  /** Entries up to this size are copied into the archive's own buffers rather than referenced. */
  const SMALL = 64 * 1024;

  // CRC-32 (IEEE 802.3, reflected 0xEDB88320), slicing by 8: eight table lookups per 8 bytes
  // instead of one per byte, which keeps a pass over hundreds of megabytes to about a second.
  const TABLE = (() => {
    const t = new Uint32Array(8 * 256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      t[n] = c >>> 0;
    }
    for (let n = 0; n < 256; n++) {
      for (let k = 1; k < 8; k++) {
        const prev = t[(k - 1) * 256 + n];
        t[k * 256 + n] = (prev >>> 8) ^ t[prev & 0xff];
      }
    }
    return t;
  })();

  function crc32(bytes, crc = 0) {
    let c = ~crc >>> 0;
    const n = bytes.length;
    let i = 0;
    for (; i + 8 <= n; i += 8) {
      const a = (bytes[i] | (bytes[i + 1] << 8) | (bytes[i + 2] << 16) | (bytes[i + 3] << 24)) ^ c;
      c =
        TABLE[1792 + (a & 0xff)] ^
        TABLE[1536 + ((a >>> 8) & 0xff)] ^
        TABLE[1280 + ((a >>> 16) & 0xff)] ^
        TABLE[1024 + (a >>> 24)] ^
        TABLE[768 + bytes[i + 4]] ^
        TABLE[512 + bytes[i + 5]] ^
        TABLE[256 + bytes[i + 6]] ^
        TABLE[bytes[i + 7]];
    }
    for (; i < n; i++) c = TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
    return ~c >>> 0;
  }

  /**
   * The CRC-32 of every entry's data, and the bytes of the small ones. Reading a Blob is a round
   * trip to the browser's blob store (about a millisecond), so runs of small blobs are read as one
   * combined Blob; big ones are read in pieces and stay referenced, never copied.
   */
  async function checksums(datas, onBytes) {
    const crcs = new Array(datas.length).fill(0);
    const small = new Array(datas.length).fill(null);
    let i = 0;
    while (i < datas.length) {
      const data = datas[i];
      if (data instanceof Uint8Array) {
        crcs[i] = crc32(data);
        small[i] = data;
        onBytes(data.length);
        i += 1;
      } else if (data.size > SMALL) {
        for (let start = 0; start < data.size; start += READ_PIECE) {
          const piece = new Uint8Array(await data.slice(start, start + READ_PIECE).arrayBuffer());
          crcs[i] = crc32(piece, crcs[i]);
          onBytes(piece.length);
        }
        i += 1;
      } else {
        let end = i;
        let bytes = 0;
        while (
          end < datas.length &&
          datas[end] instanceof Blob &&
          datas[end].size <= SMALL &&
          bytes < READ_PIECE
        ) {
          bytes += datas[end].size;
          end += 1;
        }
        const group = new Uint8Array(await new Blob(datas.slice(i, end)).arrayBuffer());
        let at = 0;
        for (let k = i; k < end; k++) {
          small[k] = group.subarray(at, at + datas[k].size);
          crcs[k] = crc32(small[k]);
          at += datas[k].size;
        }
        onBytes(group.length);
        i = end;
      }
    }
    return { crcs, small };
  }

  /**
   * Collects the archive's parts: runs of small byte arrays (headers, small files) are packed
   * into buffers of a few megabytes, since a Blob of hundreds of thousands of tiny parts is slow
   * to build and to read in some browsers; big files go in as the Blobs they are.
   */
  class Parts {
    constructor() {
      this.parts = [];
      this.pending = [];
      this.pendingBytes = 0;
    }
    bytes(array) {
      this.pending.push(array);
      this.pendingBytes += array.length;
      if (this.pendingBytes >= READ_PIECE) this.flush();
    }
    blob(blob) {
      this.flush();
      this.parts.push(blob);
    }
    flush() {
      if (!this.pending.length) return;
      const packed = new Uint8Array(this.pendingBytes);
      let at = 0;
      for (const array of this.pending) {
        packed.set(array, at);
        at += array.length;
      }
      this.parts.push(packed);
      this.pending = [];
      this.pendingBytes = 0;
    }
    toBlob(type) {
      this.flush();
      return new Blob(this.parts, { type });
    }
  }

  /** Little-endian field writer over a fixed-size buffer. */
  class Fields {
    constructor(size) {
      this.bytes = new Uint8Array(size);
      this.view = new DataView(this.bytes.buffer);
      this.at = 0;
    }
    u16(v) {
      this.view.setUint16(this.at, v, true);
      this.at += 2;
    }
    u32(v) {
      this.view.setUint32(this.at, v >>> 0, true);
      this.at += 4;
    }
    u64(v) {
      // Numbers are exact up to 2^53, far beyond any Blob a browser holds.
      this.view.setUint32(this.at, v % 0x100000000, true);
      this.view.setUint32(this.at + 4, Math.floor(v / 0x100000000), true);
      this.at += 8;
    }
    raw(bytes) {
      this.bytes.set(bytes, this.at);
      this.at += bytes.length;
    }
  }

  function dosTime(date) {
    const year = Math.min(Math.max(date.getUTCFullYear(), 1980), 2107);
    return {
      time: (date.getUTCHours() << 11) | (date.getUTCMinutes() << 5) | (date.getUTCSeconds() >> 1),
      date: ((year - 1980) << 9) | ((date.getUTCMonth() + 1) << 5) | date.getUTCDate(),
    };
  }

  const FLAG_UTF8 = 0x0800;
  const MADE_BY_UNIX = 3 << 8;
  const REGULAR_FILE_644 = (0o100644 << 16) >>> 0;

  function localHeader(entry, stamp, zip64) {
    const extra = zip64 ? 20 : 0;
    const f = new Fields(30 + entry.nameBytes.length + extra);
    f.u32(0x04034b50);
    f.u16(zip64 ? 45 : 20); // version needed to extract
    f.u16(FLAG_UTF8);
    f.u16(0); // stored
    f.u16(stamp.time);
    f.u16(stamp.date);
    f.u32(entry.crc);
    f.u32(zip64 ? MAX32 : entry.size); // compressed size
    f.u32(zip64 ? MAX32 : entry.size); // uncompressed size
    f.u16(entry.nameBytes.length);
    f.u16(extra);
    f.raw(entry.nameBytes);
    if (zip64) {
      f.u16(0x0001);
      f.u16(16);
      f.u64(entry.size); // uncompressed
      f.u64(entry.size); // compressed
    }
    return f.bytes;
  }

  function centralHeader(entry, stamp, force) {
    // In the ZIP64 extra field only the values whose 32-bit field is 0xFFFFFFFF appear, in the
    // order uncompressed size, compressed size, local header offset.
    const bigSize = force || entry.size >= MAX32;
    const bigOffset = force || entry.offset >= MAX32;
    const extraValues = (bigSize ? 2 : 0) + (bigOffset ? 1 : 0);
    const extra = extraValues ? 4 + 8 * extraValues : 0;
    const zip64 = extraValues > 0;
    const f = new Fields(46 + entry.nameBytes.length + extra);
    f.u32(0x02014b50);
    f.u16(MADE_BY_UNIX | (zip64 ? 45 : 20));
    f.u16(entry.zip64Local ? 45 : 20);
    f.u16(FLAG_UTF8);
    f.u16(0);
    f.u16(stamp.time);
    f.u16(stamp.date);
    f.u32(entry.crc);
    f.u32(bigSize ? MAX32 : entry.size);
    f.u32(bigSize ? MAX32 : entry.size);
    f.u16(entry.nameBytes.length);
    f.u16(extra);
    f.u16(0); // comment length
    f.u16(0); // disk number start
    f.u16(0); // internal attributes
    f.u32(REGULAR_FILE_644);
    f.u32(bigOffset ? MAX32 : entry.offset);
    f.raw(entry.nameBytes);
    if (zip64) {
      f.u16(0x0001);
      f.u16(8 * extraValues);
      if (bigSize) {
        f.u64(entry.size);
        f.u64(entry.size);
      }
      if (bigOffset) f.u64(entry.offset);
    }
    return f.bytes;
  }

  function endRecords(count, cdOffset, cdSize, force) {
    const zip64 = force || count > MAX16 || cdOffset >= MAX32 || cdSize >= MAX32;
    const parts = [];
    if (zip64) {
      const z = new Fields(56 + 20);
      const recordOffset = cdOffset + cdSize;
      z.u32(0x06064b50); // ZIP64 end of central directory record
      z.u64(44); // size of the rest of this record
      z.u16(MADE_BY_UNIX | 45);
      z.u16(45);
      z.u32(0); // this disk
      z.u32(0); // disk with the central directory
      z.u64(count);
      z.u64(count);
      z.u64(cdSize);
      z.u64(cdOffset);
      z.u32(0x07064b50); // ZIP64 end of central directory locator
      z.u32(0);
      z.u64(recordOffset);
      z.u32(1); // total number of disks
      parts.push(z.bytes);
    }
    const e = new Fields(22);
    e.u32(0x06054b50);
    e.u16(0);
    e.u16(0);
    e.u16(zip64 ? MAX16 : count);
    e.u16(zip64 ? MAX16 : count);
    e.u32(zip64 ? MAX32 : cdSize);
    e.u32(zip64 ? MAX32 : cdOffset);
    e.u16(0); // comment length
    parts.push(e.bytes);
    return parts;
  }

  async function build(entries, options = {}) {
    const stamp = dosTime(options.date instanceof Date && !isNaN(options.date) ? options.date : new Date());
    const force = Boolean(options.forceZip64);
    const onProgress = typeof options.onProgress === "function" ? options.onProgress : () => {};
    const encoder = new TextEncoder();
    const datas = entries.map((e) => e.data);
    for (const data of datas) {
      if (!(data instanceof Blob) && !(data instanceof Uint8Array))
        throw new TypeError("ZIP entry data must be a Blob or Uint8Array");
    }
    const total = datas.reduce((sum, d) => sum + (d instanceof Blob ? d.size : d.length), 0) || 1;
    let done = 0;
    const { crcs, small } = await checksums(datas, (n) => {
      done += n;
      onProgress(done / total);
    });
    const parts = new Parts();
    const written = [];
    let offset = 0;
    entries.forEach(({ name }, index) => {
      const data = datas[index];
      const size = data instanceof Blob ? data.size : data.length;
      const entry = { nameBytes: encoder.encode(name), size, offset, crc: crcs[index] };
      if (entry.nameBytes.length > MAX16) throw new Error("A file name is too long for a ZIP archive.");
      // A local header must announce ZIP64 sizes up front; sizes are known, so only when needed.
      entry.zip64Local = force || entry.size >= MAX32;
      const header = localHeader(entry, stamp, entry.zip64Local);
      parts.bytes(header);
      if (small[index]) parts.bytes(small[index]);
      else parts.blob(data);
      offset += header.length + size;
      written.push(entry);
    });
    const cdOffset = offset;
    let cdSize = 0;
    for (const entry of written) {
      const header = centralHeader(entry, stamp, force);
      parts.bytes(header);
      cdSize += header.length;
    }
    for (const record of endRecords(written.length, cdOffset, cdSize, force)) parts.bytes(record);
    onProgress(1);
    return parts.toBlob("application/zip");
  }

  return Object.freeze({ build, crc32 });
})();
