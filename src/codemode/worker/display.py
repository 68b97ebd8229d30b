"""Pictures made by session code: figures, PIL images, anything with ``_repr_png_``.

Stdlib-only (the worker loads it by path). Nothing here imports matplotlib or PIL:
they are looked up in ``sys.modules``, so only code that imported them pays for
pictures, and a run that made none costs a few dictionary lookups. The one
exception is shrinking a picture over the size bounds, which imports PIL (in the
session's venv; matplotlib depends on it) when it is installed.

A run's pictures are, in order: what ``display(obj)`` / ``show()`` showed, the last
expression's value if it is a picture, and the matplotlib figures still open at the
end (then closed, as Jupyter's inline backend does). Each comes back bounded to a
maximum edge and byte size; when that took shrinking, the original is sent too.
"""

from __future__ import annotations

import base64
import importlib
import importlib.util
import io
import struct
import sys
from typing import Any

PNG, JPEG, SVG = "image/png", "image/jpeg", "image/svg+xml"
# IPython's names for the same idea; PNG first: every model client takes it.
_REPR_METHODS = (("_repr_png_", PNG), ("_repr_jpeg_", JPEG), ("_repr_svg_", SVG))
_MIN_EDGE = 64
_SHRINK = 0.75
_JPEG_QUALITY = 85
_NOT_A_PICTURE = (
    "display() shows pictures: a matplotlib figure, a PIL image, or an object with _repr_png_, "
    "_repr_jpeg_ or _repr_svg_; got {kind}"
)


class Display:
    """Collects one run's pictures; ``display`` and ``show`` are the names session code sees."""

    def __init__(self, max_edge: int, max_bytes: int, max_full_bytes: int) -> None:
        self._max_edge = max_edge
        self._max_bytes = max_bytes
        self._max_full_bytes = max_full_bytes
        self._shown: list[tuple[str, bytes]] = []
        # The objects themselves, not their ids: a displayed temporary's id can be reused by the next object.
        self._shown_objects: list[Any] = []
        self._notes: list[str] = []
        self._patched_pyplot = False

    def names(self) -> dict[str, Any]:
        return {"display": self.display, "show": self.show}

    def display(self, *objects: Any) -> None:
        """Show each object as a picture of this run (a figure, a PIL image, an object with ``_repr_png_``)."""
        for obj in objects:
            picture = render(obj)
            if picture is None:
                raise TypeError(_NOT_A_PICTURE.format(kind=type(obj).__name__))
            self._shown.append(picture)
            self._shown_objects.append(obj)

    def show(self) -> None:
        """Show every open matplotlib figure now, then close them (``plt.show()`` does the same here)."""
        pyplot = sys.modules.get("matplotlib.pyplot")
        if pyplot is None:
            return
        for number in pyplot.get_fignums():
            figure = pyplot.figure(number)
            if not self._was_shown(figure):
                self._add(figure)
        pyplot.close("all")

    def finish(self, value: Any) -> tuple[list[dict[str, Any]], list[str]]:
        """The run's pictures, bounded, as wire dicts, and notes about any that could not be; then start afresh."""
        if value is not None and not self._was_shown(value):
            self._add(value, quiet=True)
        if "matplotlib.pyplot" in sys.modules:
            self._patch_pyplot()
            self.show()
        if not self._shown and not self._notes:
            return [], []
        shown, self._shown, notes, self._notes = self._shown, [], self._notes, []
        self._shown_objects.clear()
        images = []
        for mime_type, data in shown:
            image = self._bounded(mime_type, data, notes)
            if image is not None:
                images.append(image)
        return images, notes

    def _was_shown(self, obj: Any) -> bool:
        return any(shown is obj for shown in self._shown_objects)

    def _add(self, obj: Any, quiet: bool = False) -> None:
        try:
            picture = render(obj)
        except Exception as exc:  # noqa: BLE001 - a broken _repr_png_ must not fail the run that returned it
            self._notes.append(f"a {type(obj).__name__} could not be drawn as a picture: {type(exc).__name__}: {exc}")
            return
        if picture is not None:
            self._shown.append(picture)
            self._shown_objects.append(obj)
        elif not quiet:
            raise TypeError(_NOT_A_PICTURE.format(kind=type(obj).__name__))

    def _patch_pyplot(self) -> None:
        # With the Agg backend plt.show() does nothing; here it shows the figures drawn so far, as in Jupyter.
        if not self._patched_pyplot:
            self._patched_pyplot = True
            setattr(sys.modules["matplotlib.pyplot"], "show", lambda *args, **kwargs: self.show())  # noqa: B010

    def _bounded(self, mime_type: str, data: bytes, notes: list[str]) -> dict[str, Any] | None:
        width, height = dimensions(mime_type, data)
        image = {"mime_type": mime_type, "data": data, "width": width, "height": height, "full": None}
        if len(data) <= self._max_bytes and max(width or 0, height or 0) <= self._max_edge:
            return image
        full = {"mime_type": mime_type, "data": data, "width": width, "height": height}
        if len(data) > self._max_full_bytes:
            full = None
        smaller = self._shrink(data) if mime_type != SVG else None
        if smaller is None:
            why = "it is SVG" if mime_type == SVG else "Pillow is not installed in the session's venv"
            notes.append(
                f"a {mime_type} picture of {len(data):,} bytes ({width}x{height}) is over the size bound "
                f"({self._max_edge} px, {self._max_bytes:,} bytes) and could not be shrunk ({why})"
                + ("; its full size is linked" if full else "")
            )
            return {"mime_type": mime_type, "data": None, "width": width, "height": height, "full": full}
        small_type, small_data = smaller
        small_width, small_height = dimensions(small_type, small_data)
        return {
            "mime_type": small_type,
            "data": small_data,
            "width": small_width,
            "height": small_height,
            "full": full,
        }

    def _shrink(self, data: bytes) -> tuple[str, bytes] | None:
        """``data`` within the bounds, as PNG (or JPEG if PNG stays too big); None without Pillow."""
        image_module = _pil()
        if image_module is None:
            return None
        with image_module.open(io.BytesIO(data)) as original:
            original.load()
            edge = self._max_edge
            while True:
                copy = original.copy()
                copy.thumbnail((edge, edge))
                for mime_type, encode in ((PNG, _png), (JPEG, _jpeg)):
                    encoded = encode(copy)
                    if len(encoded) <= self._max_bytes:
                        return mime_type, encoded
                if edge <= _MIN_EDGE:
                    return JPEG, encoded
                edge = max(_MIN_EDGE, int(edge * _SHRINK))


def render(obj: Any) -> tuple[str, bytes] | None:
    """``(mime_type, data)`` of ``obj`` drawn as a picture, or None if it is not one."""
    figure_module = sys.modules.get("matplotlib.figure")
    if figure_module is not None and isinstance(obj, figure_module.Figure):
        buffer = io.BytesIO()
        obj.savefig(buffer, format="png", bbox_inches="tight")
        return PNG, buffer.getvalue()
    image_module = sys.modules.get("PIL.Image")
    if image_module is not None and isinstance(obj, image_module.Image):
        return PNG, _png(obj)
    kind = type(obj)
    for name, mime_type in _REPR_METHODS:
        # Looked up on the type: objects whose __getattr__ answers every name are not pictures.
        method = getattr(kind, name, None)
        if method is None or isinstance(obj, type):
            continue
        data = _as_bytes(method(obj), mime_type)
        if data is not None:
            return mime_type, data
    return None


def _as_bytes(data: Any, mime_type: str) -> bytes | None:
    if isinstance(data, tuple) and data:  # IPython allows (data, metadata)
        data = data[0]
    if isinstance(data, bytes | bytearray):
        return bytes(data)
    if isinstance(data, str):
        if mime_type == SVG:
            return data.encode("utf-8")
        try:
            return base64.b64decode(data, validate=True)
        except ValueError:
            return None
    return None


def dimensions(mime_type: str, data: bytes) -> tuple[int | None, int | None]:
    """Width and height read from the PNG or JPEG header (no decoding); None for SVG or a header not understood."""
    try:
        if mime_type == PNG and data[:8] == b"\x89PNG\r\n\x1a\n":
            width, height = struct.unpack(">II", data[16:24])
            return width, height
        if mime_type == JPEG:
            return _jpeg_dimensions(data)
    except struct.error:
        pass
    return None, None


def _jpeg_dimensions(data: bytes) -> tuple[int | None, int | None]:
    position = 2
    while position + 9 <= len(data) and data[position] == 0xFF:
        marker = data[position + 1]
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):  # start of frame
            height, width = struct.unpack(">HH", data[position + 5 : position + 9])
            return width, height
        (length,) = struct.unpack(">H", data[position + 2 : position + 4])
        position += 2 + length
    return None, None


def _pil() -> Any:
    module = sys.modules.get("PIL.Image")
    if module is None and importlib.util.find_spec("PIL") is not None:
        module = importlib.import_module("PIL.Image")  # only reached for a picture over the bounds
    return module


def _png(image: Any) -> bytes:
    buffer = io.BytesIO()
    if image.mode not in ("1", "L", "LA", "I", "P", "RGB", "RGBA"):
        image = image.convert("RGBA")
    image.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def _jpeg(image: Any) -> bytes:
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="JPEG", quality=_JPEG_QUALITY)
    return buffer.getvalue()
