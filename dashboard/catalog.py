"""Every model the page can show: the seed CNN and the user's own .keras files, each with its data.

A user's model is opened safely (dashboard.model_files), checked against its data (the input shape and the
class count must fit), and served by a Lens of its own. A model that cannot be opened stays in the catalog
with the reason, so the page lists it with its message instead of the server failing to start.

Beside a model file, an optional JSON file of the same name says what the model needs:

    {"name": "ResNet-ish", "data": "cifar10", "scaling": "0-255", "class_names": ["plane", ...]}

``data`` takes what --data takes (a Keras dataset name, an .npz, a folder of images; default: the page's
data); ``scaling`` is "0-1", "0-255", "-1-1" or {"mean": [...], "std": [...]} in 0-1 units (default: "0-255"
when the model starts with a Rescaling or Normalization layer, Keras's convention for raw pixels, else "0-1").
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import re
import threading
from pathlib import Path
from typing import Any

from dashboard import model_files, storage
from dashboard.config import Settings
from dashboard.data import DataError, Dataset, load_data
from dashboard.lens import SCALINGS, SEED_KEY, Lens, Scaling
from dashboard.model_service import ModelService, ServedModel

log = logging.getLogger(__name__)

USER_MODELS_FOLDER = "user-models"
UPLOADS_FOLDER = "uploads"
UPLOAD_PREFIX = "upload-"
MAX_UPLOADS = 10  # uploaded models kept (each is held in memory by every worker that shows it)
SIDECAR_KEYS = frozenset({"name", "data", "scaling", "class_names"})


class CatalogError(ValueError):
    """A model key the catalog does not know or cannot serve; the message is safe to show."""


class FixedModelService(ModelService):
    """Serves one model loaded from a user's file: nothing trains it, nothing replaces it."""

    def __init__(self, folder: Path, served: ServedModel) -> None:
        super().__init__(folder)
        self._served = served

    def refresh(self, data: Dataset, *, every_seconds: float = 0.5) -> bool:
        """Return False: a user's model never changes while the server runs."""
        return False


@dataclasses.dataclass(frozen=True)
class Entry:
    """One model of the picker: its key, its text, and its lens or the reason it cannot be shown."""

    key: str
    label: str
    lens: Lens | None = None
    problem: str | None = None


def model_paths(paths: tuple[Path, ...] | list[Path]) -> list[Path]:
    """Return the .keras files the --model flags name: files as given, folders' *.keras files sorted by name."""
    found: list[Path] = []
    for path in paths:
        path = Path(path).expanduser()
        found += sorted(path.glob("*.keras")) if path.is_dir() else [path]
    return found


def _key_for(path: Path, taken: set[str]) -> str:
    base = re.sub(r"[^a-z0-9]+", "-", path.stem.lower()).strip("-")[:40] or "model"
    key, number = base, 2
    while key in taken or key == SEED_KEY:
        key, number = f"{base}-{number}", number + 1
    return key


def read_sidecar(path: Path) -> dict[str, Any]:
    """Return the JSON beside a model file (name.json for name.keras), or {} when there is none."""
    sidecar = path.with_suffix(".json")
    if not sidecar.is_file():
        return {}
    try:
        content = json.loads(sidecar.read_text())
    except (OSError, ValueError) as error:
        raise model_files.ModelFileError(f"{sidecar.name} is not readable JSON ({error})") from None
    if not isinstance(content, dict) or not set(content) <= SIDECAR_KEYS:
        raise model_files.ModelFileError(f"{sidecar.name} must be an object with some of: "
                                         f"{', '.join(sorted(SIDECAR_KEYS))}")
    return content


def scaling_from(value: Any, *, preprocessing: bool) -> Scaling:
    """Return the input scaling a sidecar declares (or the default for a model with or without preprocessing)."""
    if value is None:
        value = "0-255" if preprocessing else "0-1"
    if isinstance(value, str) and value in SCALINGS:
        multiply, add = SCALINGS[value]
        return Scaling(multiply, add)
    if isinstance(value, dict) and set(value) == {"mean", "std"}:
        mean, std = value["mean"], value["std"]
        if (isinstance(mean, list) and isinstance(std, list) and len(mean) == len(std) and mean
                and all(isinstance(v, (int, float)) for v in mean + std) and all(v > 0 for v in std)):
            return Scaling(mean=tuple(float(v) for v in mean), std=tuple(float(v) for v in std))
    raise model_files.ModelFileError(f"scaling must be one of {', '.join(SCALINGS)} or "
                                     '{"mean": [...], "std": [...]} with positive std values')


def describe(lens: Lens) -> str:
    """Return the picker's text for a model: name, input shape, parameters, data and test accuracy."""
    shape = "×".join(str(d) for d in lens.data.image_shape)
    if not lens.ready:
        return f"{lens.name} · {shape} · training…"
    served = lens.served
    parameters = served.model.count_params()
    accuracy = lens.predictions().accuracy
    return f"{lens.name} · {shape} · {parameters:,} params · {lens.data.source} · {accuracy:.1%}"


class Catalog:
    """The models the page can show, by key; the seed CNN's lens is the default."""

    def __init__(self, default: Lens, entries: list[Entry] | None = None, settings: Settings | None = None) -> None:
        self.default = default
        self.entries: dict[str, Entry] = {SEED_KEY: Entry(SEED_KEY, "", default)}
        for entry in entries or []:
            self.entries[entry.key] = entry
        # What opening a model needs (uploads are opened while the server runs); None: nothing can be added.
        self.settings = settings
        self._vetting = model_files.Vetting(settings.model_dir / USER_MODELS_FOLDER / "vetted") if settings else None
        self._datasets: dict[str, Dataset] = {}
        self._adding = threading.Lock()

    @property
    def uploads(self) -> Path | None:
        """Return the folder uploaded models are kept in (None when uploads are off)."""
        if self.settings is None or not self.settings.allow_upload:
            return None
        return self.settings.model_dir / USER_MODELS_FOLDER / UPLOADS_FOLDER

    def add_upload(self, content: bytes, filename: str) -> str:
        """Keep an uploaded .keras file, open it like a --model file and return its key; raise ModelFileError or
        DataError saying why it cannot be shown (the file is then removed).

        The file is written as uploads/<sha256>.keras with its name in a JSON beside it, so another worker
        (gunicorn) opens the same model when a page asks for its key.
        """
        folder = self.uploads
        if folder is None or self.settings is None:
            raise model_files.ModelFileError("uploading models is turned off on this server")
        limit = self.settings.max_model_mb * 1024 * 1024
        if len(content) > limit:
            raise model_files.ModelFileError(f"the file is {len(content) / 2**20:.1f} MB, more than this server's "
                                             f"limit of {self.settings.max_model_mb:g} MB")
        digest = hashlib.sha256(content).hexdigest()
        key = UPLOAD_PREFIX + digest[:12]
        with self._adding:
            if key in self.entries and self.entries[key].lens is not None:
                return key
            folder.mkdir(parents=True, exist_ok=True)
            kept = sorted(folder.glob("*.keras"))
            if len(kept) >= MAX_UPLOADS and not (folder / f"{digest[:12]}.keras").exists():
                raise model_files.ModelFileError(f"this server already holds {MAX_UPLOADS} uploaded models")
            path = folder / f"{digest[:12]}.keras"
            name = re.sub(r"[^\w .()-]+", "", Path(str(filename)).stem)[:60] or "uploaded model"
            storage.atomic_write(path.with_suffix(".json"), lambda temp: temp.write_text(json.dumps({"name": name})))
            storage.atomic_write(path, lambda temp: temp.write_bytes(content))
            try:
                self._open_upload(key, path)
            except (model_files.ModelFileError, DataError) as error:
                for leftover in (path, path.with_suffix(".json")):
                    leftover.unlink(missing_ok=True)
                said = str(error).replace(path.name, Path(str(filename)).name[:80])  # the visitor's name for it
                said = re.sub(r"; give the model its data in .*$", "", said)  # a visitor cannot add a JSON
                raise type(error)(f"{said} (an uploaded model is shown on this server's data)") from None
        return key

    def _open_upload(self, key: str, path: Path) -> Lens:
        assert self.settings is not None and self._vetting is not None
        lens = open_user_model(path, key, self.settings, self.default.data, self._vetting, self._datasets)
        self.entries[key] = Entry(key, lens.name, lens)
        log.info("uploaded model %s: %s", key, describe(lens))
        return lens

    def _uploaded(self, key: str) -> Lens | None:
        """Return the lens of a model another worker accepted as an upload (opened here on first use), or None."""
        folder = self.uploads
        if folder is None or not re.fullmatch(UPLOAD_PREFIX + "[0-9a-f]{12}", key):
            return None
        path = folder / f"{key[len(UPLOAD_PREFIX):]}.keras"
        with self._adding:
            if key in self.entries and self.entries[key].lens is not None:
                return self.entries[key].lens
            if not path.is_file():
                return None
            try:
                return self._open_upload(key, path)
            except (model_files.ModelFileError, DataError) as error:
                log.error("uploaded model %s cannot be shown: %s", key, error)
                return None

    @property
    def lenses(self) -> list[Lens]:
        """Return every lens that serves a model, the default first."""
        return [entry.lens for entry in self.entries.values() if entry.lens is not None]

    def resolve(self, key: Any) -> Lens:
        """Return the lens for a model key (None or "": the default); raise CatalogError for any other value."""
        if key is None or key == "":
            return self.default
        entry = self.entries.get(key) if isinstance(key, str) else None
        if entry is None and isinstance(key, str):
            uploaded = self._uploaded(key)
            if uploaded is not None:
                return uploaded
        if entry is None:
            shown = repr(key) if len(repr(key)) <= 40 else repr(key)[:37] + "..."
            raise CatalogError(f"Model {shown} is not one of: {', '.join(self.entries)}")
        if entry.lens is None:
            raise CatalogError(f"Model {key} cannot be shown: {entry.problem}")
        return entry.lens

    def choices(self) -> list[dict]:
        """Return the model picker's options: every model, those that could not be opened disabled with why."""
        options: list[dict] = []
        for key, entry in list(self.entries.items()):  # an upload may add one meanwhile
            if entry.lens is not None:
                options.append({"label": describe(entry.lens), "value": key})
            else:
                options.append({"label": f"{entry.label} · cannot be shown: {entry.problem}", "value": key,
                                "disabled": True})
        return options

    @classmethod
    def start(cls, settings: Settings, default: Lens) -> Catalog:
        """Return the catalog of the seed CNN's lens and every model the settings name, each opened safely."""
        catalog = cls(default, settings=settings)
        assert catalog._vetting is not None
        vetting, datasets = catalog._vetting, catalog._datasets
        entries: list[Entry] = []
        taken: set[str] = set()
        for path in model_paths(settings.models):
            key = _key_for(path, taken)
            taken.add(key)
            try:
                lens = open_user_model(path, key, settings, default.data, vetting, datasets)
                entries.append(Entry(key, lens.name, lens))
                log.info("model %s: %s", key, describe(lens))
            except (model_files.ModelFileError, DataError) as error:
                log.error("model %s (%s) cannot be shown: %s", key, path, error)
                entries.append(Entry(key, path.name, problem=str(error)))
        for entry in entries:
            catalog.entries[entry.key] = entry
        return catalog


def open_user_model(path: Path, key: str, settings: Settings, default_data: Dataset, vetting: model_files.Vetting,
                    datasets: dict[str, Dataset]) -> Lens:
    """Return a lens serving the model in `path` with its data; raise ModelFileError or DataError saying why not."""
    from dashboard.tensors import TensorExtractor

    report = vetting.report(path, max_mb=settings.max_model_mb, memory_mb=settings.probe_memory_mb)
    sidecar = read_sidecar(path)
    spec = sidecar.get("data")
    if spec is None:
        data = default_data
    else:
        if not isinstance(spec, str):
            raise model_files.ModelFileError(f"{path.with_suffix('.json').name}: data must be text")
        if spec not in datasets:
            datasets[spec] = load_data(_relative_to(path, spec), offline=settings.offline, seed=settings.seed)
        data = datasets[spec]
    names = sidecar.get("class_names")
    if names is not None:
        if not isinstance(names, list) or len(names) != data.classes:
            raise model_files.ModelFileError(f"{path.with_suffix('.json').name}: class_names must list "
                                             f"{data.classes} names (one per class of {data.source})")
        data = dataclasses.replace(data, class_names=tuple(str(name) for name in names))
    shape = "×".join(str(d) for d in report.input_shape)
    if report.input_shape != data.image_shape:
        raise model_files.ModelFileError(
            f"{path.name} takes {shape} images but {data.source} has "
            f"{'×'.join(str(d) for d in data.image_shape)} images; give the model its data in "
            f"{path.with_suffix('.json').name} (\"data\": ...)")
    if report.classes != data.classes:
        raise model_files.ModelFileError(f"{path.name} scores {report.classes} classes but {data.source} has "
                                         f"{data.classes}")
    scaling = scaling_from(sidecar.get("scaling"), preprocessing=report.preprocessing)
    if scaling.mean is not None and len(scaling.mean) not in (1, data.image_shape[-1]):
        raise model_files.ModelFileError(f"scaling has {len(scaling.mean)} means for {data.image_shape[-1]} channels")
    model = model_files.load_safely(path)
    metadata = {"model_sha256": report.sha256, "name": report.name, "file": str(path), "origin": "user"}
    served = ServedModel(model, metadata, TensorExtractor(model))
    folder = settings.model_dir / USER_MODELS_FOLDER / report.sha256[:16]
    name = str(sidecar.get("name") or path.stem)[:60]
    lens = Lens(data, FixedModelService(folder, served), settings, key=key, name=name, scaling=scaling,
                trainable=False)
    lens.predictions()
    return lens


def _relative_to(model_path: Path, spec: str) -> str | Path:
    """Return a sidecar's data spec: a Keras dataset name as is, a path relative to the model file's folder."""
    candidate = model_path.parent / spec
    return candidate if candidate.exists() else spec
