// A minimal ZIP reader (stored and deflated entries) on the browser's own DecompressionStream:
// the case page shows what is inside the signed evidence bundle without any library.

function u16(view, at) { return view.getUint16(at, true); }
function u32(view, at) { return view.getUint32(at, true); }

async function inflateRaw(bytes) {
  const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("deflate-raw"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

// Returns {name: Uint8Array} for every file entry (at most maxEntries).
export async function readZip(buffer, maxEntries = 64) {
  const view = new DataView(buffer);
  const bytes = new Uint8Array(buffer);
  let eocd = -1;
  for (let i = bytes.length - 22; i >= Math.max(0, bytes.length - 22 - 65535); i--) {
    if (u32(view, i) === 0x06054b50) { eocd = i; break; }
  }
  if (eocd < 0) throw new Error("not a ZIP file");
  const count = u16(view, eocd + 10);
  let at = u32(view, eocd + 16);
  const files = {};
  const decoder = new TextDecoder();
  for (let n = 0; n < Math.min(count, maxEntries); n++) {
    if (u32(view, at) !== 0x02014b50) throw new Error("corrupt ZIP directory");
    const method = u16(view, at + 10);
    const compressed = u32(view, at + 20);
    const nameLen = u16(view, at + 28);
    const extraLen = u16(view, at + 30);
    const commentLen = u16(view, at + 32);
    const local = u32(view, at + 42);
    const name = decoder.decode(bytes.subarray(at + 46, at + 46 + nameLen));
    at += 46 + nameLen + extraLen + commentLen;
    const dataAt = local + 30 + u16(view, local + 26) + u16(view, local + 28);
    const raw = bytes.subarray(dataAt, dataAt + compressed);
    if (name.endsWith("/")) continue;
    if (method === 0) files[name] = raw;
    else if (method === 8) files[name] = await inflateRaw(raw);
  }
  return files;
}

export function text(bytes) {
  return bytes ? new TextDecoder().decode(bytes) : "";
}

export function json(bytes) {
  try { return bytes ? JSON.parse(text(bytes)) : null; } catch { return null; }
}
