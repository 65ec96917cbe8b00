/*
 * viewer.js: the page the recipient of a dentsend bundle sees.
 *
 * Before unlock it shows what the header says (sender, date, number and size of files, part i of
 * n) and asks for the passphrase; DentsendBundle (bundle.js) does all decryption and checking and
 * hands back nothing until every byte is authenticated. After unlock it shows the sender's note,
 * thumbnails, a radiograph viewer on <canvas> and a download control per file plus "Download all"
 * (a ZIP made by zip.js).
 *
 * Rules this file keeps, because the page runs under a strict Content-Security-Policy and shows
 * strings an attacker may have chosen (file names, the note, every manifest field):
 *  - every string reaches the page through textContent or setAttribute, never innerHTML;
 *  - styles are set through CSSOM properties only (no style="" in markup);
 *  - no eval, no string timers, no workers, no network.
 *
 * The viewer windows the real stored values: a lookup table maps every possible stored word
 * (2^8 or 2^16 of them) through mask/sign, rescale (modality value), window and inversion to a
 * packed RGBA pixel, so re-windowing costs one table rebuild plus one pass over the pixels.
 */
(() => {
  "use strict";

  const SVG_NS = "http://www.w3.org/2000/svg";
  const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
  /** Frames larger than this are not drawn (canvas limits); the file can still be downloaded. */
  const MAX_PIXELS = 64 * 1024 * 1024;
  const WORKING_BROWSERS = "a current version of Chrome, Edge, Firefox or Safari";
  const MEASURE_COLOUR = "#ffd23f";

  const $ = (id) => document.getElementById(id);

  // ------------------------------------------------------------------------------------------
  // DOM and text helpers

  /** createElement with text and attributes; children are nodes or strings (as text). */
  function el(tag, props = {}, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props)) {
      if (value === undefined || value === null || value === false) continue;
      if (key === "class") node.className = value;
      else if (key === "text") node.textContent = String(value);
      else node.setAttribute(key, value === true ? "" : String(value));
    }
    for (const child of children) if (child !== null && child !== undefined) node.append(child);
    return node;
  }

  function icon(name) {
    const svg = document.createElementNS(SVG_NS, "svg");
    svg.setAttribute("class", "icon");
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("focusable", "false");
    const use = document.createElementNS(SVG_NS, "use");
    use.setAttribute("href", "#i-" + name);
    svg.append(use);
    return svg;
  }

  function formatBytes(n) {
    if (typeof n !== "number" || !Number.isFinite(n) || n < 0) return "";
    if (n < 1000) return `${n} ${n === 1 ? "byte" : "bytes"}`;
    const units = ["kB", "MB", "GB", "TB"];
    let value = n / 1000;
    let unit = 0;
    while (value >= 1000 && unit < units.length - 1) {
      value /= 1000;
      unit += 1;
    }
    const digits = value < 10 ? 1 : 0;
    return `${value.toLocaleString(undefined, { maximumFractionDigits: digits, minimumFractionDigits: digits })} ${units[unit]}`;
  }

  /** "2026-11-29" (or an ISO time stamp) → a long local date, read as a calendar date. */
  function formatDate(iso) {
    const m = /^(\d{4})-(\d{2})-(\d{2})/.exec(typeof iso === "string" ? iso : "");
    if (!m) return null;
    const date = new Date(Number(m[1]), Number(m[2]) - 1, Number(m[3]));
    if (isNaN(date)) return null;
    return date.toLocaleDateString(undefined, { year: "numeric", month: "long", day: "numeric" });
  }

  function count(n, one, many) {
    return `${Number(n).toLocaleString()} ${n === 1 ? one : many}`;
  }

  /** A number for display: integers as they are, others with up to `digits` decimals. */
  function num(value, digits = 2) {
    if (!Number.isFinite(value)) return "–";
    if (Number.isInteger(value)) return value.toLocaleString(undefined, { useGrouping: false });
    return value.toLocaleString(undefined, { maximumFractionDigits: digits, useGrouping: false });
  }

  const isPositiveInt = (v, max) => Number.isInteger(v) && v >= 1 && v <= max;
  const finite = (v, fallback) => (typeof v === "number" && Number.isFinite(v) ? v : fallback);
  const clamp01 = (y) => (y < 0 ? 0 : y > 1 ? 1 : y);

  // ------------------------------------------------------------------------------------------
  // Messages in plain words

  /**
   * Title and sentence for a failure. BundleError messages are written for users already
   * (bundle.js); the texts here are the fallbacks and cover errors of any other origin.
   */
  function errorMessage(error) {
    const kind = error && typeof error.kind === "string" ? error.kind : "";
    const own =
      kind && error && typeof error.message === "string" && error.message.trim() ? error.message : "";
    if (kind === "passphrase") {
      return {
        title: "Wrong passphrase",
        text: own || "That passphrase does not open this file. Check it with the sender and try again.",
        retry: true,
      };
    }
    if (kind === "damaged") {
      return {
        title: "The file is damaged or was altered",
        text:
          own ||
          "This file was changed or damaged after it was made, so nothing in it is shown. " +
            "Please ask the sender for a new one.",
      };
    }
    if (kind === "unsupported") {
      return {
        title: "This file cannot be read here",
        text: own || "It was made in a format this page does not know. Please ask the sender for a new one.",
      };
    }
    if (kind === "browser") {
      const message = browserMessage([]);
      return own ? { title: message.title, text: own } : message;
    }
    const detail = error && error.message ? ` (${error.message})` : "";
    return {
      title: "The file could not be opened",
      text:
        `Something went wrong while opening it${detail}. Try again in ${WORKING_BROWSERS} on a ` +
        "computer; if that fails too, please ask the sender for a new one.",
    };
  }

  function browserMessage(missing) {
    if (!window.isSecureContext) {
      return {
        title: "Save the file first",
        text:
          "This page was opened somewhere that blocks the encryption it needs (a web mail " +
          `preview, for example). Save the file to your computer and open it from there in ${WORKING_BROWSERS}.`,
      };
    }
    const what = missing.length ? ` (it lacks ${missing.join(", ")})` : "";
    return {
      title: "This browser cannot open the file",
      text:
        `This browser is missing something the file needs${what}. Please open the file in ` +
        `${WORKING_BROWSERS} on a computer.`,
    };
  }

  function showAlert(message) {
    const box = $("alert");
    box.replaceChildren(
      icon("alert"),
      el(
        "div",
        { class: "alert-body" },
        el("strong", { text: message.title }),
        el("span", { text: message.text }),
      ),
    );
    box.classList.remove("retry");
    box.classList.add("shown");
  }

  function clearAlert() {
    const box = $("alert");
    box.replaceChildren();
    box.classList.remove("shown", "retry");
  }

  // ------------------------------------------------------------------------------------------
  // Before unlock

  const lockedState = { header: null, busy: false };

  function initLocked() {
    const input = $("passphrase");
    const toggle = $("toggle-pass");
    $("unlock-form").addEventListener("submit", onUnlock);
    toggle.addEventListener("click", () => {
      const show = input.type === "password";
      input.type = show ? "text" : "password";
      toggle.classList.toggle("on", show);
      toggle.querySelector("span").textContent = show ? "Hide" : "Show";
      input.focus();
    });
    input.addEventListener("input", () => {
      if ($("alert").classList.contains("retry")) clearAlert();
    });

    let header;
    try {
      header = DentsendBundle.header();
    } catch (error) {
      describeHeader(null);
      showAlert(errorMessage(error.kind ? error : { kind: "damaged" }));
      return;
    }
    lockedState.header = header;
    describeHeader(header);

    const support = DentsendBundle.supported();
    if (!support.ok) {
      showAlert(browserMessage(Array.isArray(support.missing) ? support.missing : []));
      return;
    }
    input.disabled = false;
    toggle.disabled = false;
    $("unlock").disabled = false;
    input.focus();
  }

  function describeHeader(header) {
    const sender = header && typeof header.sender === "string" ? header.sender.trim() : "";
    $("sent-by").textContent = sender ? `from ${sender}` : "sent with dentsend";
    $("fact-date").textContent = (header && formatDate(header.created)) || "Not stated";
    if (header && Number.isInteger(header.files) && header.files >= 0) {
      const size = formatBytes(header.input_bytes);
      $("fact-files").textContent = count(header.files, "file", "files") + (size ? `, about ${size}` : "");
    } else {
      $("fact-files").textContent = "Not stated";
    }
    if (
      header &&
      isPositiveInt(header.parts, 10000) &&
      header.parts > 1 &&
      isPositiveInt(header.part, header.parts)
    ) {
      $("fact-part").replaceChildren(
        `${header.part} of ${header.parts}`,
        el("span", {
          class: "fact-note",
          text: "The other parts come as separate files and open with the same passphrase.",
        }),
      );
      $("fact-part-row").hidden = false;
    }
  }

  function setProgress(fraction, label) {
    const pct = Math.round(clamp01(finite(fraction, 0)) * 100);
    $("progress-bar").value = pct;
    $("progress-bar").setAttribute("aria-valuetext", `${pct} %`);
    // bundle.js labels say what is happening (with a percentage where it means something).
    $("progress-label").textContent = typeof label === "string" && label ? label : `${pct} %`;
  }

  async function onUnlock(event) {
    event.preventDefault();
    if (lockedState.busy) return;
    const input = $("passphrase");
    const button = $("unlock");
    if (!input.value.trim()) {
      showAlert({
        title: "Passphrase needed",
        text: "Type the passphrase the sender gave you by phone or text message.",
      });
      $("alert").classList.add("retry");
      input.focus();
      return;
    }
    lockedState.busy = true;
    clearAlert();
    input.readOnly = true;
    button.disabled = true;
    button.textContent = "Unlocking…";
    $("progress").hidden = false;
    setProgress(0, "Checking the passphrase");
    let result;
    try {
      result = await DentsendBundle.open(input.value, setProgress);
    } catch (error) {
      const message = errorMessage(error);
      showAlert(message);
      $("progress").hidden = true;
      button.textContent = "Unlock";
      lockedState.busy = false;
      if (message.retry) {
        $("alert").classList.add("retry");
        input.readOnly = false;
        button.disabled = false;
        input.select();
        input.focus();
      } else {
        input.disabled = true;
        $("toggle-pass").disabled = true;
      }
      return;
    }
    input.value = "";
    try {
      showApp(result);
    } catch (error) {
      // A fault in this page, not in the file: say so rather than show half a viewer.
      $("app").hidden = true;
      $("locked").hidden = false;
      showAlert(errorMessage(error));
      button.textContent = "Unlock";
    }
  }

  // ------------------------------------------------------------------------------------------
  // After unlock: the page around the viewer

  const app = {
    manifest: null,
    files: [],
    views: new Map(),
    items: [], // viewable images
    urls: [],
    zipUrl: null,
    zipWanted: false,
  };

  function showApp(result) {
    const manifest = result && typeof result.manifest === "object" && result.manifest ? result.manifest : {};
    app.manifest = manifest;
    app.files = Array.isArray(result.files) ? result.files : [];
    app.views = result.views instanceof Map ? result.views : new Map();
    app.manifestBlob = result.manifestBlob instanceof Blob ? result.manifestBlob : null;

    const entries = new Map();
    for (const entry of Array.isArray(manifest.files) ? manifest.files : []) {
      if (entry && typeof entry.name === "string") entries.set(entry.name, entry);
    }

    describeOrigin(manifest);
    describeNote(manifest);
    $("files").replaceChildren(el("li", { class: "file checking", text: "Checking the files…" }));
    buildImages(entries);

    $("locked").hidden = true;
    $("app").hidden = false;
    document.body.classList.add("unlocked");
    viewer.init();
    if (app.items.length) {
      selectItem(app.items[0]);
      $("view").focus({ preventScroll: true });
    } else {
      $("images-section").hidden = true;
      viewer.showMessage("There are no images to show in this package. The files are listed for download.");
      $("stage").focus({ preventScroll: true });
    }
    renderThumbnails();
    // Downloads are offered once every file's SHA-256 is confirmed (DentsendBundle.open).
    Promise.resolve(result.verified).then(
      () => {
        buildFileList(entries);
        prepareZip();
      },
      () => withdrawApp()
    );
  }

  // A file failed its final check after the images were shown: take everything back.
  function withdrawApp() {
    for (const url of app.urls) URL.revokeObjectURL(url);
    app.urls = [];
    app.files = [];
    $("files").replaceChildren();
    $("app").hidden = true;
    document.body.classList.remove("unlocked");
    $("locked").hidden = false;
    $("progress").hidden = true;
    $("passphrase").disabled = true;
    $("toggle-pass").disabled = true;
    $("unlock").disabled = true;
    $("unlock").textContent = "Unlock";
    showAlert(errorMessage({ kind: "damaged" }));
  }

  function describeOrigin(manifest) {
    const header = lockedState.header || {};
    const sender =
      typeof manifest.sender === "string" && manifest.sender.trim()
        ? manifest.sender.trim()
        : typeof header.sender === "string"
          ? header.sender.trim()
          : "";
    const parts = [];
    if (sender) parts.push(`From ${sender}`);
    const date = formatDate(manifest.created) || formatDate(header.created);
    if (date) parts.push(date);
    const part = Number.isInteger(manifest.part) ? manifest.part : header.part;
    const total = Number.isInteger(manifest.parts) ? manifest.parts : header.parts;
    if (isPositiveInt(total, 10000) && total > 1 && isPositiveInt(part, total))
      parts.push(`part ${part} of ${total}`);
    $("origin").textContent = parts.join(" · ");
    $("app-title").textContent = sender ? `Radiographs from ${sender}` : "Radiographs";

    const deid = {
      deidentified: [
        "De-identified",
        "Names, dates of birth and other identifying details were removed before sending.",
      ],
      pseudonymised: ["Pseudonymised", "Identifying details were replaced by a code the sender can match."],
      identified: ["Named referral", "The files carry the patient's details, as agreed for this referral."],
    }[manifest.deidentification];
    const box = $("deid");
    if (deid) {
      box.replaceChildren(icon("shield"), el("span", {}, el("strong", { text: deid[0] }), ` ${deid[1]}`));
    } else {
      box.hidden = true;
    }
  }

  function describeNote(manifest) {
    if (typeof manifest.note === "string" && manifest.note.trim()) {
      $("note-text").textContent = manifest.note;
      $("note").hidden = false;
    }
  }

  function kindLabel(entry, name) {
    const ext = (/\.([A-Za-z0-9]{1,5})$/.exec(name) || [])[1];
    if (entry && entry.kind === "dicom") {
      return typeof entry.modality === "string" && entry.modality ? `DICOM ${entry.modality}` : "DICOM";
    }
    return ext ? ext.toUpperCase() : "File";
  }

  function buildFileList(entries) {
    const list = $("files");
    list.replaceChildren();
    for (const file of app.files) {
      const name = String(file.name);
      // application/octet-stream: the browser always saves, never renders (an HTML or SVG file in
      // the package must not open in this page's origin). The Blob shares the decrypted bytes.
      const blob = new Blob([file.blob], { type: "application/octet-stream" });
      const url = URL.createObjectURL(blob);
      app.urls.push(url);
      const size = formatBytes(finite(file.size, file.blob.size));
      const link = el(
        "a",
        {
          class: "button small",
          href: url,
          download: name,
          "aria-label": `Download ${name}`,
          title: `Download ${name}`,
        },
        icon("download"),
        el("span", { text: "Download" }),
      );
      list.append(
        el(
          "li",
          { class: "file" },
          icon("file"),
          el(
            "div",
            { class: "file-text" },
            el("span", { class: "file-name", text: name }),
            el("span", { class: "file-meta", text: `${kindLabel(entries.get(name), name)} · ${size}` }),
          ),
          link,
        ),
      );
    }
    if (!app.files.length) list.append(el("li", { class: "empty", text: "No files." }));
  }

  // ------------------------------------------------------------------------------------------
  // Images: from manifest entries to pixel sources

  class ViewError extends Error {}

  function buildImages(entries) {
    app.items = [];
    for (const file of app.files) {
      const entry = entries.get(String(file.name));
      if (!entry || !entry.image || typeof entry.image !== "object") continue;
      app.items.push(makeItem(file, entry));
    }
  }

  function makeItem(file, entry) {
    const info = entry.image;
    const item = {
      name: String(file.name),
      file,
      entry,
      info,
      error: null,
      frames: new Map(), // frame index → decoded frame (a few kept)
      state: null,
      thumb: null,
      lut: null,
    };
    try {
      describePixels(item, info);
    } catch (error) {
      item.error = error instanceof ViewError ? error.message : "its image description is not valid";
    }
    return item;
  }

  /** Validate the manifest's numbers: they decide buffer sizes, so they are untrusted input. */
  function describePixels(item, info) {
    const view = info.view && typeof info.view === "object" ? info.view : {};
    const photometric = ["MONOCHROME1", "MONOCHROME2", "RGB"].includes(info.photometric)
      ? info.photometric
      : null;
    if (!photometric) throw new ViewError("its colour model is not one the viewer shows");
    const spacing = info.spacing && typeof info.spacing === "object" ? info.spacing : null;
    item.spacing =
      spacing && finite(spacing.row_mm, 0) > 0 && finite(spacing.column_mm, 0) > 0
        ? {
            row: spacing.row_mm,
            column: spacing.column_mm,
            detector: spacing.source === "ImagerPixelSpacing",
          }
        : null;
    item.photometric = photometric;
    item.windows = (Array.isArray(info.windows) ? info.windows : [])
      .filter((w) => w && Number.isFinite(w.center) && Number.isFinite(w.width) && w.width > 0)
      .map((w) => ({ center: w.center, width: w.width }));

    if (view.kind === "image") {
      const record = typeof view.record === "string" ? view.record : item.name;
      const blob = app.views.get(record) || (app.files.find((f) => f.name === record) || {}).blob;
      if (!(blob instanceof Blob)) throw new ViewError("its picture is missing from the package");
      item.source = { kind: "image", blob };
      item.frameCount = 1;
      item.samples = photometric === "RGB" ? 3 : 1;
      item.bitsAllocated = 8;
      item.bitsStored = 8;
      item.signed = false;
      item.slope = 1;
      item.intercept = 0;
      item.columns = isPositiveInt(info.columns, 65535) ? info.columns : 0; // known after decoding
      item.rows = isPositiveInt(info.rows, 65535) ? info.rows : 0;
      item.exactWindow = true;
      return;
    }

    let blob;
    let offset = 0;
    if (view.kind === "dicom-native") {
      blob = item.file.blob;
      offset = view.offset;
    } else if (view.kind === "raw") {
      blob = app.views.get(view.record);
    } else {
      throw new ViewError("it is stored in a way this viewer does not know");
    }
    if (!(blob instanceof Blob)) throw new ViewError("its pixel data is missing from the package");
    if (!Number.isInteger(offset) || offset < 0) throw new ViewError("its pixel data offset is not valid");
    const rows = info.rows,
      columns = info.columns;
    const frames = info.frames === undefined ? 1 : info.frames;
    const samples = info.samples === undefined ? 1 : info.samples;
    const ba = info.bits_allocated;
    if (!isPositiveInt(rows, 65535) || !isPositiveInt(columns, 65535))
      throw new ViewError("its size is not valid");
    if (!isPositiveInt(frames, 1 << 24)) throw new ViewError("its number of frames is not valid");
    if (samples !== (photometric === "RGB" ? 3 : 1))
      throw new ViewError("its samples per pixel do not match its colour model");
    if (ba !== 8 && ba !== 16)
      throw new ViewError(`it has ${num(ba)} bits per sample, which the viewer does not show`);
    const bs = isPositiveInt(info.bits_stored, ba) ? info.bits_stored : ba;
    if (rows * columns > MAX_PIXELS) throw new ViewError("it is too large to show in a browser");
    const frameBytes = rows * columns * samples * (ba / 8);
    if (offset + frameBytes * frames > blob.size)
      throw new ViewError("its pixel data is shorter than its description");
    const rescale = info.rescale && typeof info.rescale === "object" ? info.rescale : {};
    Object.assign(item, {
      source: { kind: "stored", blob, offset },
      rows,
      columns,
      frameCount: frames,
      samples,
      bitsAllocated: ba,
      bitsStored: bs,
      signed: Boolean(info.signed),
      slope: finite(rescale.slope, 1) || 1,
      intercept: finite(rescale.intercept, 0),
      frameBytes,
      exactWindow: photometric === "RGB",
    });
  }

  /** The stored value of a raw little-endian word: masked to bits_stored, sign-extended. */
  function storedValueFunction(item) {
    const ba = item.bitsAllocated;
    const bs = item.bitsStored;
    const mask = bs >= 32 ? -1 : (1 << bs) - 1;
    const shift = 32 - bs;
    if (item.signed) return (raw) => ((raw & mask) << shift) >> shift;
    return bs >= ba ? (raw) => raw : (raw) => raw & mask;
  }

  async function loadFrame(item, index) {
    const cached = item.frames.get(index);
    if (cached) {
      item.frames.delete(index);
      item.frames.set(index, cached); // most recently used last
      return cached;
    }
    const frame = item.source.kind === "image" ? await decodeRaster(item) : await readStored(item, index);
    frame.index = index;
    frame.stats = frameStats(item, frame);
    item.frames.set(index, frame);
    let bytes = 0;
    for (const f of item.frames.values()) bytes += f.data.byteLength;
    for (const key of item.frames.keys()) {
      if (item.frames.size <= 1 || bytes < 96 * 1024 * 1024) break;
      bytes -= item.frames.get(key).data.byteLength;
      item.frames.delete(key);
    }
    return frame;
  }

  async function readStored(item, index) {
    const start = item.source.offset + index * item.frameBytes;
    const buffer = await item.source.blob.slice(start, start + item.frameBytes).arrayBuffer();
    if (buffer.byteLength !== item.frameBytes)
      throw new ViewError("its pixel data is shorter than its description");
    if (item.bitsAllocated === 8) return { data: new Uint8Array(buffer) };
    const bytes = new Uint8Array(buffer);
    if (!LITTLE_ENDIAN) {
      for (let i = 0; i < bytes.length; i += 2) {
        const t = bytes[i];
        bytes[i] = bytes[i + 1];
        bytes[i + 1] = t;
      }
    }
    return { data: new Uint16Array(buffer) };
  }

  /** JPEG/PNG/BMP decoded by the browser, EXIF orientation applied, as grey values or RGBA. */
  async function decodeRaster(item) {
    let source;
    try {
      source = await createImageBitmap(item.source.blob, { imageOrientation: "from-image" });
    } catch (_) {
      source = await decodeWithImageElement(item.source.blob);
    }
    const width = source.width;
    const height = source.height;
    if (!width || !height) throw new ViewError("the browser could not decode its picture");
    if (width * height > MAX_PIXELS) throw new ViewError("it is too large to show in a browser");
    const canvas = document.createElement("canvas");
    canvas.width = width;
    canvas.height = height;
    const ctx = canvas.getContext("2d", { willReadFrequently: true });
    ctx.drawImage(source, 0, 0);
    if (typeof source.close === "function") source.close();
    const rgba = ctx.getImageData(0, 0, width, height).data;
    canvas.width = canvas.height = 0;
    item.columns = width;
    item.rows = height;
    if (item.samples === 1) {
      const grey = new Uint8Array(width * height);
      for (let i = 0, j = 0; i < grey.length; i++, j += 4) grey[i] = rgba[j];
      return { data: grey };
    }
    return { data: rgba, rgba: true };
  }

  function decodeWithImageElement(blob) {
    // Fallback where createImageBitmap lacks the orientation option: an <img> applies EXIF
    // orientation itself (CSS image-orientation: from-image) and img-src allows blob: URLs.
    return new Promise((resolve, reject) => {
      const url = URL.createObjectURL(blob);
      const img = new Image();
      img.onload = () => {
        URL.revokeObjectURL(url);
        resolve(img);
      };
      img.onerror = () => {
        URL.revokeObjectURL(url);
        reject(new ViewError("the browser could not decode its picture"));
      };
      img.src = url;
    });
  }

  /**
   * Value range and the 0.5–99.5 percentile window of a frame, in modality units, from a
   * histogram of the raw words (a percentile window ignores a few hot pixels or a lead marker).
   */
  function frameStats(item, frame) {
    if (item.photometric === "RGB") {
      const top = item.bitsAllocated === 16 ? 2 ** item.bitsStored - 1 : 255;
      return { min: 0, max: top, low: 0, high: top };
    }
    const size = 1 << item.bitsAllocated;
    const counts = new Uint32Array(size);
    const data = frame.data;
    for (let i = 0; i < data.length; i++) counts[data[i]]++;
    const stored = storedValueFunction(item);
    const bs = item.bitsStored;
    const base = item.signed ? -(2 ** (bs - 1)) : 0;
    const byValue = new Float64Array(2 ** bs);
    for (let raw = 0; raw < size; raw++) if (counts[raw]) byValue[stored(raw) - base] += counts[raw];
    let min = -1;
    let max = -1;
    for (let i = 0; i < byValue.length; i++) {
      if (byValue[i]) {
        if (min < 0) min = i;
        max = i;
      }
    }
    if (min < 0) min = max = 0;
    const total = data.length;
    const lowRank = Math.max(1, Math.ceil(total * 0.005));
    const highRank = Math.max(1, Math.ceil(total * 0.995));
    let seen = 0;
    let low = min;
    let high = max;
    let lowFound = false;
    for (let i = min; i <= max; i++) {
      seen += byValue[i];
      if (!lowFound && seen >= lowRank) {
        low = i;
        lowFound = true;
      }
      if (seen >= highRank) {
        high = i;
        break;
      }
    }
    const mv = (index) => (index + base) * item.slope + item.intercept;
    const [a, b] = [mv(min), mv(max)].sort((x, y) => x - y);
    const [c, d] = [mv(low), mv(high)].sort((x, y) => x - y);
    return { min: a, max: b, low: c, high: d };
  }

  // ------------------------------------------------------------------------------------------
  // Window presets

  const windowFrom = (low, high) => ({ center: (low + high) / 2, width: Math.max(high - low, 1e-3) });

  function presetsFor(item, stats) {
    const list = [];
    if (item.exactWindow) {
      // Identity under the "exact" window function: value v is shown as v / top.
      const top = 2 ** item.bitsStored - 1;
      list.push({ id: "original", label: "Original", window: { center: top / 2, width: top } });
    }
    item.windows.forEach((w, i) => {
      const which = item.windows.length > 1 ? ` ${i + 1}` : "";
      list.push({ id: `file-${i}`, label: `From the file${which}`, window: w });
    });
    if (item.photometric === "RGB") return list;
    list.push({ id: "auto", label: "Auto (histogram)", window: windowFrom(stats.low, stats.high) });
    list.push({ id: "full", label: "Full range", window: windowFrom(stats.min, stats.max) });
    // Dental presets, relative to this image's own value range: detector values carry no fixed
    // unit (no Hounsfield scale), so "bone" means the denser part of what this image holds.
    const span = Math.max(stats.high - stats.low, 1e-3);
    const denseHigh = item.photometric !== "MONOCHROME1";
    const at = (t) => (denseHigh ? stats.low + t * span : stats.high - t * span);
    list.push({ id: "bone", label: "Bone", window: { center: at(0.66), width: 0.56 * span } });
    list.push({ id: "soft", label: "Soft tissue", window: { center: at(0.3), width: 0.5 * span } });
    list.push({ id: "contrast", label: "High contrast", window: { center: at(0.5), width: 0.45 * span } });
    return list;
  }

  function defaultPreset(item) {
    if (item.exactWindow) return "original";
    if (item.windows.length) return "file-0";
    return "auto";
  }

  // ------------------------------------------------------------------------------------------
  // Rendering: lookup table → RGBA pixels on an off-screen canvas

  const PACK = LITTLE_ENDIAN
    ? (r, g, b) => ((255 << 24) | (b << 16) | (g << 8) | r) >>> 0
    : (r, g, b) => ((r << 24) | (g << 16) | (b << 8) | 255) >>> 0;

  /** The window function (PS3.3 C.11.2.1.2 LINEAR; "exact" for 8-bit pictures, identity at full range). */
  function windowFunction(item, win) {
    const c = win.center;
    if (item.exactWindow) {
      const w = Math.max(win.width, 1e-6);
      return (x) => clamp01((x - c) / w + 0.5);
    }
    const w = win.width;
    if (w <= 1) return (x) => (x > c - 0.5 ? 1 : 0);
    return (x) => clamp01((x - (c - 0.5)) / (w - 1) + 0.5);
  }

  function displayInverted(item, state) {
    return (item.photometric === "MONOCHROME1") !== state.invert;
  }

  /** Fill `imageData` with the frame under the item's current window and inversion. */
  function paint(item, frame, state, imageData) {
    const f = windowFunction(item, state.window);
    const invert = displayInverted(item, state);
    const out32 = new Uint32Array(imageData.data.buffer);
    const data = frame.data;
    if (item.photometric !== "RGB") {
      const size = 1 << item.bitsAllocated;
      const lut = item.lut && item.lut.length === size ? item.lut : (item.lut = new Uint32Array(size));
      const stored = storedValueFunction(item);
      for (let raw = 0; raw < size; raw++) {
        let y = f(stored(raw) * item.slope + item.intercept);
        if (invert) y = 1 - y;
        const g = Math.round(y * 255);
        lut[raw] = PACK(g, g, g);
      }
      const n = Math.min(out32.length, data.length);
      for (let i = 0; i < n; i++) out32[i] = lut[data[i]];
      return;
    }
    const size = frame.rgba ? 256 : 1 << item.bitsAllocated;
    const lut = new Uint8Array(size);
    const top = (1 << item.bitsStored) - 1;
    for (let raw = 0; raw < size; raw++) {
      const y = f(Math.min(raw, top));
      lut[raw] = Math.round((invert ? 1 - y : y) * 255);
    }
    const out = imageData.data;
    const step = frame.rgba ? 4 : 3;
    const n = out.length / 4;
    for (let i = 0, j = 0, k = 0; i < n; i++, j += step, k += 4) {
      out[k] = lut[data[j]];
      out[k + 1] = lut[data[j + 1]];
      out[k + 2] = lut[data[j + 2]];
      out[k + 3] = 255;
    }
  }

  function newState(item, stats) {
    const presets = presetsFor(item, stats);
    const id = defaultPreset(item);
    const preset = presets.find((p) => p.id === id) || presets[0];
    return {
      frame: 0,
      preset: preset.id,
      window: { ...preset.window },
      invert: false,
      m: [1, 0, 0, 1], // screen orientation matrix: rotations and flips
      zoom: 1,
      panX: 0,
      panY: 0,
      fit: true,
      measurements: [],
    };
  }

  // ------------------------------------------------------------------------------------------
  // Thumbnails

  function buildThumbList() {
    const list = $("thumbs");
    list.replaceChildren();
    for (const item of app.items) {
      const canvas = el("canvas", { class: "thumb-canvas", "aria-hidden": "true", width: 1, height: 1 });
      const info = item.error ? "cannot be shown" : describeSize(item);
      const button = el(
        "button",
        {
          type: "button",
          class: "thumb",
          "aria-pressed": "false",
          "aria-label": `Show ${item.name}`,
          title: item.name,
        },
        el("span", { class: "thumb-frame" }, canvas),
        el("span", { class: "thumb-name", text: item.name }),
        el("span", { class: "thumb-info", text: info }),
      );
      button.addEventListener("click", () => selectItem(item));
      item.thumb = { button, canvas, info: button.lastChild };
      list.append(el("li", {}, button));
    }
  }

  function describeSize(item) {
    const size = item.columns && item.rows ? `${item.columns} × ${item.rows}` : "";
    const frames = item.frameCount > 1 ? `${item.frameCount} frames` : "";
    return [size, frames].filter(Boolean).join(" · ");
  }

  async function renderThumbnails() {
    // One after another, after the first image is up: the viewer comes first.
    for (const item of app.items) {
      if (item.error || !item.thumb) continue;
      try {
        const frame = await loadFrame(item, 0);
        if (!item.state) item.state = newState(item, frame.stats);
        drawThumb(item, frame);
        item.thumb.info.textContent = describeSize(item);
        if (viewer.item !== item) forgetPixels(item);
      } catch (error) {
        item.error = error instanceof ViewError ? error.message : "the browser could not decode it";
        item.thumb.info.textContent = "cannot be shown";
        item.thumb.button.classList.add("broken");
        if (viewer.item === item) viewer.showItem(item);
      }
      await new Promise((resolve) => setTimeout(resolve, 0));
    }
  }

  function drawThumb(item, frame) {
    const full = document.createElement("canvas");
    full.width = item.columns;
    full.height = item.rows;
    const fctx = full.getContext("2d");
    const imageData = fctx.createImageData(item.columns, item.rows);
    const state = { window: newState(item, frame.stats).window, invert: false };
    paint(item, frame, state, imageData);
    fctx.putImageData(imageData, 0, 0);
    const canvas = item.thumb.canvas;
    const dpr = window.devicePixelRatio || 1;
    const box = { w: Math.round(148 * dpr), h: Math.round(104 * dpr) };
    const scale = Math.min(box.w / item.columns, box.h / item.rows);
    canvas.width = Math.max(1, Math.round(item.columns * scale));
    canvas.height = Math.max(1, Math.round(item.rows * scale));
    const ctx = canvas.getContext("2d");
    ctx.imageSmoothingQuality = "high";
    ctx.drawImage(full, 0, 0, canvas.width, canvas.height);
    full.width = full.height = 0;
    canvas.classList.add("ready");
  }

  /** Decoded pixels are kept for the image on screen only: a package may hold hundreds. */
  function forgetPixels(item) {
    item.frames.clear();
    item.lut = null;
  }

  function selectItem(item) {
    for (const other of app.items)
      if (other.thumb) other.thumb.button.setAttribute("aria-pressed", String(other === item));
    viewer.showItem(item);
  }

  // ------------------------------------------------------------------------------------------
  // The viewer

  const viewer = {
    ready: false,
    item: null,
    frame: null,
    token: 0,
    tool: "window",
    drag: null,
    pointers: new Map(),
    pinch: null,
    offscreen: null,
    imageData: null,
    needsPaint: false,
    drawQueued: false,
    dpr: 1,

    init() {
      if (this.ready) return;
      this.ready = true;
      this.canvas = $("view");
      this.ctx = this.canvas.getContext("2d");
      this.wrap = $("canvas-wrap");
      this.offscreen = document.createElement("canvas");
      this.offCtx = this.offscreen.getContext("2d");
      buildThumbList();
      this.bindControls();
      this.bindPointer();
      document.addEventListener("keydown", (e) => this.onKey(e));
      const resize = () => this.resize();
      if (typeof ResizeObserver === "function") new ResizeObserver(resize).observe(this.wrap);
      window.addEventListener("resize", resize);
      this.resize();
    },

    // -- controls ---------------------------------------------------------------------------

    bindControls() {
      const on = (id, fn) => $(id).addEventListener("click", fn);
      on("tool-window", () => this.setTool("window"));
      on("tool-pan", () => this.setTool("pan"));
      on("tool-measure", () => this.setTool("measure"));
      on("zoom-in", () => this.zoomBy(1.25));
      on("zoom-out", () => this.zoomBy(0.8));
      on("fit", () => this.fit());
      on("actual", () => this.actualSize());
      on("rotate", () => this.rotate(1));
      on("flip-h", () => this.flip(true));
      on("flip-v", () => this.flip(false));
      on("invert", () => this.toggleInvert());
      on("clear", () => this.clearMeasurements());
      on("reset", () => this.reset());
      on("help-button", () => this.toggleHelp());
      $("preset").addEventListener("change", (e) => this.applyPreset(e.target.value));
      $("frame").addEventListener("input", (e) => this.setFrame(Number(e.target.value) - 1));
      $("download-all").addEventListener("click", onDownloadAll);
      $("lock").addEventListener("click", lockAgain);
    },

    setTool(tool) {
      this.tool = tool;
      for (const name of ["window", "pan", "measure"])
        $(`tool-${name}`).setAttribute("aria-pressed", String(name === tool));
      this.canvas.dataset.tool = tool;
      this.cancelMeasurement();
    },

    toggleHelp(force) {
      const help = $("help");
      const open = typeof force === "boolean" ? force : help.hidden;
      help.hidden = !open;
      $("help-button").setAttribute("aria-expanded", String(open));
    },

    setToolsEnabled(enabled) {
      for (const node of document.querySelectorAll(".toolbar button, .toolbar select")) {
        if (node.id !== "help-button") node.disabled = !enabled;
      }
      $("frame").disabled = !enabled;
    },

    showMessage(text) {
      const box = $("stage-message");
      box.textContent = text;
      box.hidden = !text;
    },

    // -- showing an image -------------------------------------------------------------------

    async showItem(item) {
      const token = ++this.token;
      this.cancelMeasurement();
      if (this.item && this.item !== item) forgetPixels(this.item);
      this.item = item;
      this.frame = null;
      $("ov-name").textContent = item.name;
      $("ov-window").textContent = "";
      this.describe(item);
      if (item.error) {
        this.setToolsEnabled(false);
        this.showMessage(
          `${item.name} cannot be shown here: ${item.error}. You can still download the file.`,
        );
        $("framebar").hidden = true;
        this.queueDraw();
        return;
      }
      const slow = setTimeout(() => {
        if (token === this.token) this.showMessage("Loading…");
      }, 150);
      try {
        const index = item.state ? item.state.frame : 0;
        const frame = await loadFrame(item, index);
        if (token !== this.token) return;
        if (!item.state) item.state = newState(item, frame.stats);
        this.frame = frame;
      } catch (error) {
        clearTimeout(slow);
        if (token !== this.token) return;
        item.error = error instanceof ViewError ? error.message : "the browser could not decode it";
        if (item.thumb) item.thumb.info.textContent = "cannot be shown";
        this.showItem(item);
        return;
      }
      clearTimeout(slow);
      this.showMessage("");
      this.setToolsEnabled(true);
      this.describe(item);
      this.fillPresets();
      this.syncControls();
      this.prepareOffscreen();
      if (item.state.fit) this.fitZoom();
      this.needsPaint = true;
      this.queueDraw();
    },

    async setFrame(index) {
      const item = this.item;
      if (!item || !item.state || item.error) return;
      const target = Math.max(0, Math.min(item.frameCount - 1, index));
      if (target === item.state.frame && this.frame && this.frame.index === target) return;
      item.state.frame = target;
      this.syncFrameControls();
      const token = ++this.token;
      try {
        const frame = await loadFrame(item, target);
        if (token !== this.token) return;
        this.frame = frame;
        this.needsPaint = true;
        this.queueDraw();
      } catch (error) {
        if (token !== this.token) return;
        item.error = error instanceof ViewError ? error.message : "the browser could not read it";
        this.showItem(item);
      }
    },

    prepareOffscreen() {
      const { columns, rows } = this.item;
      if (this.offscreen.width !== columns || this.offscreen.height !== rows || !this.imageData) {
        this.offscreen.width = columns;
        this.offscreen.height = rows;
        this.imageData = this.offCtx.createImageData(columns, rows);
      }
    },

    fillPresets() {
      const item = this.item;
      const select = $("preset");
      select.replaceChildren();
      for (const preset of presetsFor(item, this.frame.stats))
        select.append(el("option", { value: preset.id, text: preset.label }));
      if (item.state.preset === "custom") select.append(el("option", { value: "custom", text: "Custom" }));
      select.value = item.state.preset;
    },

    applyPreset(id) {
      const item = this.item;
      if (!item || !item.state || !this.frame) return;
      const preset = presetsFor(item, this.frame.stats).find((p) => p.id === id);
      if (!preset) return;
      item.state.window = { ...preset.window };
      item.state.preset = id;
      this.fillPresets();
      this.repaint();
    },

    markCustomWindow() {
      const state = this.item.state;
      if (state.preset !== "custom") {
        state.preset = "custom";
        this.fillPresets();
      }
    },

    repaint() {
      this.needsPaint = true;
      this.queueDraw();
    },

    syncControls() {
      const state = this.item.state;
      $("invert").setAttribute("aria-pressed", String(state.invert));
      this.syncFrameControls();
    },

    syncFrameControls() {
      const item = this.item;
      const bar = $("framebar");
      const multi = item && !item.error && item.frameCount > 1;
      bar.hidden = !multi;
      if (!multi) {
        $("ov-frame").textContent = "";
        return;
      }
      const slider = $("frame");
      slider.max = String(item.frameCount);
      slider.value = String(item.state.frame + 1);
      const text = `Frame ${item.state.frame + 1} of ${item.frameCount}`;
      $("frame-label").textContent = text;
      slider.setAttribute("aria-valuetext", text);
      $("ov-frame").textContent = text;
    },

    describe(item) {
      const rows = [];
      const add = (term, value) =>
        rows.push(el("div", {}, el("dt", { text: term }), el("dd", { text: value })));
      add("File", item.name);
      add("Type", kindLabel(item.entry, item.name));
      add("File size", formatBytes(finite(item.file.size, item.file.blob.size)));
      if (!item.error) {
        if (item.columns && item.rows) add("Pixels", `${item.columns} × ${item.rows}`);
        if (item.frameCount > 1) add("Frames", String(item.frameCount));
        if (item.source.kind === "stored") {
          add(
            "Bit depth",
            item.bitsStored === item.bitsAllocated
              ? `${item.bitsStored} bits`
              : `${item.bitsStored} bits (stored in ${item.bitsAllocated})`,
          );
          if (item.slope !== 1 || item.intercept !== 0)
            add("Rescale", `× ${num(item.slope, 4)} + ${num(item.intercept, 4)}`);
        }
        add(
          "Grey scale",
          {
            MONOCHROME1: "MONOCHROME1 (shown inverted: bone light)",
            MONOCHROME2: "MONOCHROME2",
            RGB: "colour",
          }[item.photometric],
        );
        add(
          "Pixel spacing",
          item.spacing
            ? `${num(item.spacing.row, 4)} × ${num(item.spacing.column, 4)} mm${item.spacing.detector ? " at the detector" : ""}`
            : "not calibrated (lengths in pixels)",
        );
      }
      $("details").replaceChildren(...rows);
      $("details-section").hidden = false;
    },

    // -- geometry ---------------------------------------------------------------------------

    resize() {
      const rect = this.wrap.getBoundingClientRect();
      const dpr = window.devicePixelRatio || 1;
      const width = Math.max(1, Math.round(rect.width * dpr));
      const height = Math.max(1, Math.round(rect.height * dpr));
      if (width === this.canvas.width && height === this.canvas.height && dpr === this.dpr) return;
      this.dpr = dpr;
      this.canvas.width = width;
      this.canvas.height = height;
      if (this.item && this.item.state && this.item.state.fit) this.fitZoom();
      this.queueDraw();
    },

    /** Bounding size on screen (image pixels) after rotation. */
    turnedSize() {
      const [a, b, c, d] = this.item.state.m;
      const { columns, rows } = this.item;
      return { w: Math.abs(a) * columns + Math.abs(b) * rows, h: Math.abs(c) * columns + Math.abs(d) * rows };
    },

    fitZoom() {
      const state = this.item.state;
      const { w, h } = this.turnedSize();
      if (!w || !h) return;
      state.zoom = Math.min(this.canvas.width / w, this.canvas.height / h) * 0.96;
      state.panX = 0;
      state.panY = 0;
      state.fit = true;
    },

    imageToScreen(u, v) {
      const s = this.item.state;
      const [a, b, c, d] = s.m;
      const du = u - this.item.columns / 2;
      const dv = v - this.item.rows / 2;
      return {
        x: this.canvas.width / 2 + s.panX + s.zoom * (a * du + b * dv),
        y: this.canvas.height / 2 + s.panY + s.zoom * (c * du + d * dv),
      };
    },

    screenToImage(x, y) {
      const s = this.item.state;
      const [a, b, c, d] = s.m;
      const dx = (x - this.canvas.width / 2 - s.panX) / s.zoom;
      const dy = (y - this.canvas.height / 2 - s.panY) / s.zoom;
      // The orientation matrix is orthogonal: its inverse is its transpose.
      return { u: this.item.columns / 2 + a * dx + c * dy, v: this.item.rows / 2 + b * dx + d * dy };
    },

    canvasPoint(event) {
      const rect = this.canvas.getBoundingClientRect();
      return {
        x: (event.clientX - rect.left) * (this.canvas.width / rect.width),
        y: (event.clientY - rect.top) * (this.canvas.height / rect.height),
      };
    },

    zoomLimits() {
      const { w, h } = this.turnedSize();
      const fit = Math.min(this.canvas.width / w, this.canvas.height / h);
      return { min: Math.min(fit / 4, 0.05), max: Math.max(fit * 4, 40) };
    },

    zoomAt(x, y, zoom) {
      if (!this.active()) return;
      const s = this.item.state;
      const limits = this.zoomLimits();
      const next = Math.min(limits.max, Math.max(limits.min, zoom));
      const p = this.screenToImage(x, y);
      s.zoom = next;
      s.fit = false;
      const q = this.imageToScreen(p.u, p.v);
      s.panX += x - q.x;
      s.panY += y - q.y;
      this.queueDraw();
    },

    zoomBy(factor) {
      if (!this.active()) return;
      this.zoomAt(this.canvas.width / 2, this.canvas.height / 2, this.item.state.zoom * factor);
    },

    fit() {
      if (!this.active()) return;
      this.fitZoom();
      this.queueDraw();
    },

    actualSize() {
      if (!this.active()) return;
      this.zoomAt(this.canvas.width / 2, this.canvas.height / 2, 1);
    },

    panBy(dx, dy) {
      if (!this.active()) return;
      const s = this.item.state;
      s.panX += dx;
      s.panY += dy;
      s.fit = false;
      this.queueDraw();
    },

    /** Rotate 90° on screen: clockwise (turns = 1) or anticlockwise (-1). */
    rotate(turns) {
      if (!this.active()) return;
      const s = this.item.state;
      const [a, b, c, d] = s.m;
      s.m = turns > 0 ? [-c, -d, a, b] : [c, d, -a, -b];
      const px = s.panX;
      s.panX = turns > 0 ? -s.panY : s.panY;
      s.panY = turns > 0 ? px : -px;
      if (s.fit) this.fitZoom();
      this.queueDraw();
    },

    /** Flip as seen on screen, whatever the rotation. */
    flip(horizontal) {
      if (!this.active()) return;
      const s = this.item.state;
      const [a, b, c, d] = s.m;
      s.m = horizontal ? [-a, -b, c, d] : [a, b, -c, -d];
      if (horizontal) s.panX = -s.panX;
      else s.panY = -s.panY;
      this.queueDraw();
    },

    toggleInvert() {
      if (!this.active()) return;
      this.item.state.invert = !this.item.state.invert;
      this.syncControls();
      this.repaint();
    },

    reset() {
      if (!this.active()) return;
      const item = this.item;
      const frame = item.state.frame;
      item.state = newState(item, this.frame.stats);
      item.state.frame = frame;
      this.fitZoom();
      this.fillPresets();
      this.syncControls();
      this.repaint();
    },

    /** Change contrast (width) and brightness (centre) by steps in CSS pixels of dragging. */
    adjustWindow(dWidth, dCenter) {
      const item = this.item;
      const s = item.state;
      const stats = this.frame.stats;
      const unit = Math.max(stats.max - stats.min, 1) / 500;
      const sign = displayInverted(item, s) ? -1 : 1;
      s.window = {
        center: s.window.center + dCenter * unit * sign,
        width: Math.max(s.window.width + dWidth * unit, item.exactWindow ? 1 : 1.001),
      };
      this.markCustomWindow();
      this.repaint();
    },

    active() {
      return Boolean(this.item && this.item.state && this.frame && !this.item.error);
    },

    // -- drawing ----------------------------------------------------------------------------

    queueDraw() {
      if (this.drawQueued) return;
      this.drawQueued = true;
      requestAnimationFrame(() => {
        this.drawQueued = false;
        this.draw();
      });
    },

    draw() {
      const ctx = this.ctx;
      const { width, height } = this.canvas;
      ctx.setTransform(1, 0, 0, 1, 0, 0);
      ctx.clearRect(0, 0, width, height);
      if (!this.active()) {
        this.updateOverlays();
        return;
      }
      const item = this.item;
      const s = item.state;
      if (this.needsPaint) {
        this.prepareOffscreen();
        paint(item, this.frame, s, this.imageData);
        this.offCtx.putImageData(this.imageData, 0, 0);
        this.needsPaint = false;
      }
      const [a, b, c, d] = s.m;
      const z = s.zoom;
      const e = width / 2 + s.panX - z * ((a * item.columns) / 2 + (b * item.rows) / 2);
      const f = height / 2 + s.panY - z * ((c * item.columns) / 2 + (d * item.rows) / 2);
      ctx.setTransform(z * a, z * c, z * b, z * d, e, f);
      // Magnified far enough, show the real pixels rather than a blur between them.
      ctx.imageSmoothingEnabled = z < 3;
      ctx.imageSmoothingQuality = "high";
      ctx.drawImage(this.offscreen, 0, 0);
      ctx.setTransform(1, 0, 0, 1, 0, 0);
      this.drawScaleBar();
      for (const line of s.measurements) this.drawMeasurement(line, false);
      if (this.drag && this.drag.measure) this.drawMeasurement(this.drag.measure, true);
      this.updateOverlays();
    },

    drawMeasurement(line, live) {
      const ctx = this.ctx;
      const dpr = this.dpr;
      const p = this.imageToScreen(line.a.u, line.a.v);
      const q = this.imageToScreen(line.b.u, line.b.v);
      const len = Math.hypot(q.x - p.x, q.y - p.y);
      ctx.save();
      ctx.lineCap = "round";
      // A dark halo under the line keeps it visible on white enamel and black air alike.
      for (const [colour, width] of [
        ["rgba(0,0,0,0.75)", 4],
        [MEASURE_COLOUR, 1.6],
      ]) {
        ctx.strokeStyle = colour;
        ctx.lineWidth = width * dpr;
        ctx.setLineDash(live && colour === MEASURE_COLOUR ? [6 * dpr, 4 * dpr] : []);
        ctx.beginPath();
        ctx.moveTo(p.x, p.y);
        ctx.lineTo(q.x, q.y);
        if (len > 0) {
          const nx = ((q.y - p.y) / len) * 6 * dpr;
          const ny = (-(q.x - p.x) / len) * 6 * dpr;
          for (const end of [p, q]) {
            ctx.moveTo(end.x - nx, end.y - ny);
            ctx.lineTo(end.x + nx, end.y + ny);
          }
        }
        ctx.stroke();
      }
      const label = this.lengthText(line);
      ctx.font = `600 ${12.5 * dpr}px system-ui, -apple-system, "Segoe UI", Roboto, sans-serif`;
      const tw = ctx.measureText(label).width;
      const pad = 5 * dpr;
      const h = 19 * dpr;
      let x = (p.x + q.x) / 2 + 10 * dpr;
      let y = (p.y + q.y) / 2 - h - 6 * dpr;
      x = Math.min(Math.max(x, 4 * dpr), this.canvas.width - tw - 2 * pad - 4 * dpr);
      y = Math.min(Math.max(y, 4 * dpr), this.canvas.height - h - 4 * dpr);
      ctx.fillStyle = "rgba(8,10,14,0.82)";
      ctx.beginPath();
      if (typeof ctx.roundRect === "function") ctx.roundRect(x, y, tw + 2 * pad, h, 4 * dpr);
      else ctx.rect(x, y, tw + 2 * pad, h);
      ctx.fill();
      ctx.fillStyle = MEASURE_COLOUR;
      ctx.textBaseline = "middle";
      ctx.fillText(label, x + pad, y + h / 2 + 0.5 * dpr);
      ctx.restore();
    },

    /** A bar of a round length (1, 2, 5, 10 … mm) at the bottom right, for calibrated images. */
    drawScaleBar() {
      const item = this.item;
      if (!item.spacing) return;
      const [a] = item.state.m;
      // Along the screen's x axis lie the image's columns (a ≠ 0) or, turned 90°, its rows.
      const mmPerPixel = (a !== 0 ? item.spacing.column : item.spacing.row) / item.state.zoom;
      const dpr = this.dpr;
      let length = 1;
      for (const candidate of [0.5, 1, 2, 5, 10, 20, 50, 100, 200]) {
        length = candidate;
        if (candidate / mmPerPixel >= 70 * dpr) break;
      }
      const width = length / mmPerPixel;
      if (width > this.canvas.width / 3 || width < 8 * dpr) return;
      const ctx = this.ctx;
      const x1 = this.canvas.width - 14 * dpr;
      const x0 = x1 - width;
      const y = this.canvas.height - 34 * dpr;
      ctx.save();
      for (const [colour, lineWidth] of [
        ["rgba(0,0,0,0.7)", 4],
        ["#e9eef4", 1.5],
      ]) {
        ctx.strokeStyle = colour;
        ctx.lineWidth = lineWidth * dpr;
        ctx.beginPath();
        ctx.moveTo(x0, y - 5 * dpr);
        ctx.lineTo(x0, y);
        ctx.lineTo(x1, y);
        ctx.lineTo(x1, y - 5 * dpr);
        ctx.stroke();
      }
      const label = `${num(length, 1)} mm${item.spacing.detector ? " at detector" : ""}`;
      ctx.font = `${11.5 * dpr}px ui-monospace, "SF Mono", Menlo, Consolas, monospace`;
      ctx.textAlign = "right";
      ctx.textBaseline = "bottom";
      ctx.fillStyle = "#e9eef4";
      ctx.shadowColor = "#000";
      ctx.shadowBlur = 3 * dpr;
      ctx.fillText(label, x1, y - 7 * dpr);
      ctx.restore();
    },

    /** Length in mm (PixelSpacing), mm at the detector (ImagerPixelSpacing) or pixels. */
    lengthText(line) {
      const du = line.b.u - line.a.u;
      const dv = line.b.v - line.a.v;
      const spacing = this.item.spacing;
      const fixed = (value, digits) =>
        value.toLocaleString(undefined, {
          minimumFractionDigits: digits,
          maximumFractionDigits: digits,
          useGrouping: false,
        });
      if (spacing) {
        const mm = Math.hypot(du * spacing.column, dv * spacing.row);
        return `${fixed(mm, mm < 10 ? 2 : 1)} mm${spacing.detector ? " at detector" : ""}`;
      }
      const px = Math.hypot(du, dv);
      return `${fixed(px, px < 10 ? 1 : 0)} px`;
    },

    updateOverlays() {
      const item = this.item;
      if (!this.active()) {
        $("ov-window").textContent = "";
        $("ov-zoom").textContent = "";
        return;
      }
      const s = item.state;
      const win =
        s.preset === "original" ? "Original" : `C ${num(s.window.center, 1)}  W ${num(s.window.width, 1)}`;
      $("ov-window").textContent = win + (s.invert ? " · inverted" : "");
      const angle = this.rotation();
      $("ov-zoom").textContent =
        `${Math.round(s.zoom * 100)} %` +
        (angle ? ` · ${angle}°` : "") +
        (this.mirrored() ? " · flipped" : "");
      const frame = item.frameCount > 1 ? `, frame ${s.frame + 1} of ${item.frameCount}` : "";
      this.canvas.setAttribute(
        "aria-label",
        `${item.name}${frame}. Window ${win}, zoom ${Math.round(s.zoom * 100)} %` +
          `${s.invert ? ", inverted" : ""}. Arrow keys move, plus and minus zoom; press question mark for all shortcuts.`,
      );
    },

    /** The turn shown in the overlay: the angle of the image's x axis on screen (mirrored
     *  views count from the mirrored axis, so a plain left–right flip reads 0°). */
    rotation() {
      const [a, , c] = this.item.state.m;
      const sign = this.mirrored() ? -1 : 1;
      return (Math.round((Math.atan2(sign * c, sign * a) * 180) / Math.PI) + 360) % 360;
    },

    mirrored() {
      const [a, b, c, d] = this.item.state.m;
      return a * d - b * c < 0;
    },

    // -- measurement ------------------------------------------------------------------------

    cancelMeasurement() {
      if (this.drag && this.drag.measure) {
        this.drag = null;
        this.queueDraw();
      }
    },

    clearMeasurements() {
      if (!this.active()) return;
      this.item.state.measurements = [];
      this.cancelMeasurement();
      $("measure-readout").textContent = "";
      this.queueDraw();
    },

    removeLastMeasurement() {
      if (!this.active()) return;
      this.item.state.measurements.pop();
      const last = this.item.state.measurements[this.item.state.measurements.length - 1];
      $("measure-readout").textContent = last ? `Length: ${this.lengthText(last)}` : "";
      this.queueDraw();
    },

    // -- pointer, wheel, touch ----------------------------------------------------------------

    bindPointer() {
      const canvas = this.canvas;
      canvas.dataset.tool = this.tool;
      canvas.addEventListener("pointerdown", (e) => this.onPointerDown(e));
      canvas.addEventListener("pointermove", (e) => this.onPointerMove(e));
      canvas.addEventListener("pointerup", (e) => this.onPointerUp(e));
      canvas.addEventListener("pointercancel", (e) => this.onPointerUp(e, true));
      canvas.addEventListener("pointerleave", () => this.readout(null));
      canvas.addEventListener("contextmenu", (e) => e.preventDefault());
      canvas.addEventListener("dblclick", () => this.fit());
      canvas.addEventListener(
        "wheel",
        (e) => {
          if (!this.active()) return;
          e.preventDefault();
          const perLine = e.deltaMode === 1 ? 40 : e.deltaMode === 2 ? 800 : 1;
          const p = this.canvasPoint(e);
          this.zoomAt(p.x, p.y, this.item.state.zoom * Math.exp(-e.deltaY * perLine * 0.0015));
        },
        { passive: false },
      );
    },

    onPointerDown(e) {
      if (!this.active()) return;
      const p = this.canvasPoint(e);
      this.pointers.set(e.pointerId, p);
      try {
        this.canvas.setPointerCapture(e.pointerId);
      } catch (_) {
        /* synthetic events have no capturable pointer */
      }
      this.canvas.focus({ preventScroll: true });
      e.preventDefault();
      if (this.pointers.size === 2) {
        this.drag = null; // a second finger turns any drag into a pinch
        const [one, two] = [...this.pointers.values()];
        this.pinch = {
          dist: Math.max(Math.hypot(two.x - one.x, two.y - one.y), 1),
          zoom: this.item.state.zoom,
          anchor: this.screenToImage((one.x + two.x) / 2, (one.y + two.y) / 2),
        };
        this.queueDraw();
        return;
      }
      if (this.pointers.size > 2) return;
      let mode = this.tool;
      if (e.button === 1 || (e.button === 0 && e.shiftKey && mode !== "measure")) mode = "pan";
      else if (e.button === 2) mode = "zoom";
      else if (e.button !== 0) return;
      this.drag = { mode, last: p, start: p, zoom: this.item.state.zoom, id: e.pointerId };
      if (mode === "measure") {
        const a = this.screenToImage(p.x, p.y);
        this.drag.measure = { a, b: { ...a } };
      }
    },

    onPointerMove(e) {
      if (!this.active()) return;
      const p = this.canvasPoint(e);
      if (this.pointers.has(e.pointerId)) this.pointers.set(e.pointerId, p);
      if (this.pinch && this.pointers.size >= 2) {
        const [one, two] = [...this.pointers.values()];
        const s = this.item.state;
        const limits = this.zoomLimits();
        s.zoom = Math.min(
          limits.max,
          Math.max(
            limits.min,
            (this.pinch.zoom * Math.hypot(two.x - one.x, two.y - one.y)) / this.pinch.dist,
          ),
        );
        s.fit = false;
        const mid = { x: (one.x + two.x) / 2, y: (one.y + two.y) / 2 };
        const q = this.imageToScreen(this.pinch.anchor.u, this.pinch.anchor.v);
        s.panX += mid.x - q.x;
        s.panY += mid.y - q.y;
        this.queueDraw();
        return;
      }
      const drag = this.drag;
      if (drag && drag.id === e.pointerId) {
        const dx = (p.x - drag.last.x) / this.dpr;
        const dy = (p.y - drag.last.y) / this.dpr;
        drag.last = p;
        if (drag.mode === "window") this.adjustWindow(dx, dy);
        else if (drag.mode === "pan") this.panBy(dx * this.dpr, dy * this.dpr);
        else if (drag.mode === "zoom")
          this.zoomAt(
            drag.start.x,
            drag.start.y,
            drag.zoom * Math.exp((-(p.y - drag.start.y) / this.dpr) * 0.01),
          );
        else if (drag.mode === "measure") {
          drag.measure.b = this.screenToImage(p.x, p.y);
          $("measure-readout").textContent = `Length: ${this.lengthText(drag.measure)}`;
          this.queueDraw();
        }
      }
      this.readout(p);
    },

    onPointerUp(e, cancelled) {
      this.pointers.delete(e.pointerId);
      if (this.pointers.size < 2) this.pinch = null;
      const drag = this.drag;
      if (!drag || drag.id !== e.pointerId) return;
      this.drag = null;
      if (drag.measure && !cancelled && this.active()) {
        const a = this.imageToScreen(drag.measure.a.u, drag.measure.a.v);
        const b = this.imageToScreen(drag.measure.b.u, drag.measure.b.v);
        if (Math.hypot(b.x - a.x, b.y - a.y) >= 3 * this.dpr) {
          this.item.state.measurements.push(drag.measure);
          $("measure-readout").textContent = `Length: ${this.lengthText(drag.measure)}`;
        }
      }
      this.queueDraw();
    },

    /** The value under the pointer: modality value (stored × slope + intercept), or RGB. */
    readout(p) {
      const box = $("readout");
      if (!p || !this.active()) {
        box.textContent = this.active() ? "Point at the image to read a value" : "";
        return;
      }
      const item = this.item;
      const { u, v } = this.screenToImage(p.x, p.y);
      const x = Math.floor(u);
      const y = Math.floor(v);
      if (x < 0 || y < 0 || x >= item.columns || y >= item.rows) {
        box.textContent = "Outside the image";
        return;
      }
      const i = y * item.columns + x;
      const data = this.frame.data;
      let value;
      if (item.photometric === "RGB") {
        const j = i * (this.frame.rgba ? 4 : 3);
        value = `R ${data[j]}  G ${data[j + 1]}  B ${data[j + 2]}`;
      } else {
        const stored = storedValueFunction(item)(data[i]);
        value = `value ${num(stored * item.slope + item.intercept, 3)}`;
      }
      box.textContent = `x ${x}, y ${y}: ${value}`;
    },

    // -- keyboard ---------------------------------------------------------------------------

    onKey(e) {
      if ($("app").hidden || e.defaultPrevented) return;
      const target = e.target;
      if (target && target.closest && target.closest("input, select, textarea")) return;
      if (e.ctrlKey || e.metaKey || e.altKey) return;
      const key = e.key;
      const lower = key.length === 1 ? key.toLowerCase() : key;
      const step = 48 * this.dpr;
      const handled = () => e.preventDefault();
      if (key === "Escape") {
        if (this.drag && this.drag.measure) {
          this.cancelMeasurement();
          $("measure-readout").textContent = "Measurement cancelled";
          handled();
        } else if (!$("help").hidden) {
          this.toggleHelp(false);
          handled();
        }
        return;
      }
      if (key === "?") {
        this.toggleHelp();
        return handled();
      }
      if (!this.active()) return;
      if (key.startsWith("Arrow")) {
        const dx = key === "ArrowLeft" ? -1 : key === "ArrowRight" ? 1 : 0;
        const dy = key === "ArrowUp" ? -1 : key === "ArrowDown" ? 1 : 0;
        if (e.shiftKey) this.adjustWindow(dx * 10, dy * 10);
        else this.panBy(dx * step, dy * step);
        return handled();
      }
      const actions = {
        "+": () => this.zoomBy(1.25),
        "=": () => this.zoomBy(1.25),
        "-": () => this.zoomBy(0.8),
        _: () => this.zoomBy(0.8),
        f: () => this.fit(),
        1: () => this.actualSize(),
        0: () => this.reset(),
        i: () => this.toggleInvert(),
        r: () => this.rotate(e.shiftKey ? -1 : 1),
        h: () => this.flip(true),
        v: () => this.flip(false),
        a: () => this.applyPreset("auto"),
        w: () => this.setTool("window"),
        p: () => this.setTool("pan"),
        m: () => this.setTool("measure"),
        PageUp: () => this.setFrame(this.item.state.frame - 1),
        PageDown: () => this.setFrame(this.item.state.frame + 1),
        Delete: () => this.removeLastMeasurement(),
        Backspace: () => this.removeLastMeasurement(),
      };
      const action = actions[lower];
      if (action) {
        action();
        handled();
      }
    },
  };

  // ------------------------------------------------------------------------------------------
  // Download all: a ZIP of manifest.json and every file

  function zipName() {
    const header = lockedState.header || {};
    const created =
      typeof header.created === "string" ? header.created.replace(/[^0-9-]/g, "").slice(0, 10) : "";
    const part =
      isPositiveInt(header.parts, 10000) && header.parts > 1 && isPositiveInt(header.part, header.parts)
        ? `-part-${header.part}-of-${header.parts}`
        : "";
    return `dentsend${created ? "-" + created : ""}${part}.zip`;
  }

  async function prepareZip() {
    const link = $("download-all");
    const status = $("download-all-status");
    link.setAttribute("aria-disabled", "true");
    link.classList.add("busy");
    status.textContent = "Preparing…";
    const manifestBlob =
      app.manifestBlob ||
      new Blob([JSON.stringify(app.manifest, null, 2) + "\n"], { type: "application/json" });
    // The order of the OpenPGP package's ZIP: the files, then the manifest that lists them.
    const entries = [];
    for (const file of app.files)
      if (file.name !== "manifest.json") entries.push({ name: String(file.name), data: file.blob });
    entries.push({ name: "manifest.json", data: manifestBlob });
    const created = Date.parse(app.manifest.created);
    try {
      const zip = await DentsendZip.build(entries, {
        date: Number.isFinite(created) ? new Date(created) : new Date(),
        onProgress: (fraction) => {
          status.textContent = `Preparing… ${Math.round(fraction * 100)} %`;
        },
      });
      app.zipUrl = URL.createObjectURL(zip);
      app.urls.push(app.zipUrl);
      link.href = app.zipUrl;
      link.download = zipName();
      link.removeAttribute("aria-disabled");
      link.classList.remove("busy");
      link.title = `Download all ${count(entries.length, "file", "files")} as one ZIP (${formatBytes(zip.size)})`;
      status.textContent = "";
      if (app.zipWanted) link.click();
    } catch (error) {
      link.classList.remove("busy");
      status.textContent = "The ZIP could not be made here; please save the files one by one.";
    }
  }

  function onDownloadAll(event) {
    if (!app.zipUrl) {
      event.preventDefault();
      app.zipWanted = true;
    }
  }

  function lockAgain() {
    for (const url of app.urls) URL.revokeObjectURL(url);
    location.reload();
  }

  // ------------------------------------------------------------------------------------------

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", initLocked);
  else initLocked();
})();
