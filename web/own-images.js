// The visitor's own images: a folder chosen (<input type=file webkitdirectory>) or dropped,
// decoded and resized here in the page (createImageBitmap: centre square, then the model's
// side, RGB). First-level sub-folders are labels when every image is in one and there are two
// or more; otherwise the images are unlabelled. Files that do not decode are skipped and counted.
// Nothing is sent anywhere: the pixels go from this page's memory to the GPU.

// Every file of a dropped entry (a file or a folder, read recursively), with its path.
async function entryFiles(entry, path, out) {
  if (entry.isFile) {
    const file = await new Promise((resolve, reject) => entry.file(resolve, reject));
    out.push({ file, path: `${path}${entry.name}` });
  } else if (entry.isDirectory) {
    const reader = entry.createReader();
    // readEntries gives at most about 100 entries a call: read until it gives none.
    for (;;) {
      const batch = await new Promise((resolve, reject) => reader.readEntries(resolve, reject));
      if (batch.length === 0) break;
      for (const e of batch) await entryFiles(e, `${path}${entry.name}/`, out);
    }
  }
}

// The files of a drop as {file, path}: one dropped folder is the root (its sub-folders are the
// classes); several folders or loose files sit under a root of their own, so several dropped
// folders are the classes.
export async function droppedFiles(dataTransfer) {
  const entries = [...dataTransfer.items].map((item) => item.webkitGetAsEntry && item.webkitGetAsEntry()).filter(Boolean);
  const out = [];
  if (entries.length === 0) {
    for (const file of dataTransfer.files) out.push({ file, path: `dropped/${file.name}` });
    return out;
  }
  const root = entries.length === 1 && entries[0].isDirectory ? "" : "dropped/";
  for (const entry of entries) await entryFiles(entry, root, out);
  return out;
}

// The files of the folder picker as {file, path} (webkitRelativePath starts with the folder).
export function pickedFiles(fileList) {
  return [...fileList].map((file) => ({ file, path: file.webkitRelativePath || `picked/${file.name}` }));
}

// Decodes `file` to `side` x `side` RGB bytes: its centre square, resized by the browser.
async function decode(file, side, canvas) {
  const full = await createImageBitmap(file);
  const s = Math.min(full.width, full.height);
  const options = { resizeWidth: side, resizeHeight: side, resizeQuality: "high" };
  const small = await createImageBitmap(full, (full.width - s) >> 1, (full.height - s) >> 1, s, s, options);
  full.close();
  const g = canvas.getContext("2d", { willReadFrequently: true });
  g.clearRect(0, 0, side, side);
  g.drawImage(small, 0, 0, side, side);
  small.close();
  const rgba = g.getImageData(0, 0, side, side).data;
  const rgb = new Uint8Array(side * side * 3);
  for (let p = 0, q = 0; p < rgba.length; p += 4, q += 3) {
    rgb[q] = rgba[p]; rgb[q + 1] = rgba[p + 1]; rgb[q + 2] = rgba[p + 2];
  }
  return rgb;
}

// The first-level sub-folder of `path` below its root folder, or null for a file at the root.
function subFolder(path) {
  const parts = path.split("/").filter(Boolean).slice(1);
  return parts.length >= 2 ? parts[0] : null;
}

// Decodes `files` ({file, path}, sorted by path) at `side` px: {bytes, count, labels (one name
// per image, or null), classes, skipped (file names)}; `progress(done, total)` as it goes.
export async function decodeAll(files, side, progress) {
  const sorted = [...files].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const canvas = typeof OffscreenCanvas === "function" ? new OffscreenCanvas(side, side)
    : Object.assign(document.createElement("canvas"), { width: side, height: side });
  const images = [];
  const names = [];
  const skipped = [];
  for (const [i, { file, path }] of sorted.entries()) {
    try {
      images.push(await decode(file, side, canvas));
      names.push(subFolder(path));
    } catch (e) {
      skipped.push(path);
    }
    if (progress && (i % 16 === 15 || i + 1 === sorted.length)) progress(i + 1, sorted.length);
  }
  const bytes = new Uint8Array(images.length * side * side * 3);
  images.forEach((rgb, i) => bytes.set(rgb, i * rgb.length));
  const classes = [...new Set(names)].filter((n) => n !== null).sort();
  const labelled = names.length > 0 && names.every((n) => n !== null) && classes.length >= 2;
  return { side, bytes, count: images.length, labels: labelled ? names : null, classes: labelled ? classes : [], skipped };
}

// "N images, K skipped (not images)", with what the labels are.
export function describe(set) {
  const counts = `${set.count} images, ${set.skipped.length} skipped (not images)`;
  if (set.labels) {
    return `${counts}; labelled by their ${set.classes.length} sub-folders (${set.classes.join(", ")}): ` +
      `a fifth of each is held out to measure k-NN.`;
  }
  return `${counts}; no labels (they are not all in two or more sub-folders): the result shows the ` +
    `teacher's attention and a map of its features, without k-NN.`;
}
