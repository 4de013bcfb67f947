"""What the commands print and write: plain-text tables and atomic netCDF files."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from .._safeio import is_sidecar
from ..errors import ConfigError, OutputError, StoreExistsError

__all__ = ["check_compare_out", "check_folder_out", "check_model_out", "check_not_input", "check_output",
           "funnel_rows", "is_our_netcdf", "is_ours", "metrics_table", "not_ours_error", "table", "write_netcdf"]

#: The files ``compare`` writes into its ``--out`` folder.
COMPARE_FILES = ("compare.md", "compare.csv", "compare.json", "compare.png")

#: Funnel-summary keys (from :func:`fusets_dl.alignment.summarise`) and their labels, in print order.
_FUNNEL_LABELS = (
    ("mode", "mode"),
    ("s1_dates", "S1 dates"),
    ("s2_dates", "S2 dates"),
    ("cube_dates", "cube dates"),
    ("pixels", "pixels (S1 grid)"),
    ("grid", "S2 -> S1 grid"),
    ("s2_pixel_dates", "S2 pixel-dates"),
    ("s2_clear_pixel_dates", "  clear"),  # + the mask used, when known (alignment.summary.CLEAR_MASK_KEY)
    ("s2_clear_fraction", "  clear fraction"),
    ("s2_clear_on_s1_grid", "  clear on S1 grid"),
    ("outliers_removed", "  outliers removed"),
    ("s1_valid_pixel_dates", "S1 valid pixel-dates"),
    ("paired_pixel_dates", "cube pixel-dates with NDVI"),
    ("paired_fraction", "  fraction of cube"),
    ("s2_views_paired", "clear S2 views paired to an S1 date"),
    ("s2_views_unpaired", "  paired to none (align --unpaired-views keeps them)"),
    ("s2_views_unpaired_kept", "  kept for the reconstruction (NDVI_unpaired)"),
)


def table(rows: Sequence[tuple[str, Any]], title: str) -> str:
    """A two-column text table under an underlined title.

    Parameters
    ----------
    rows : sequence of (str, object)
        Label and value of each line.
    title : str
        The heading.

    Returns
    -------
    str
        The table, labels padded to the longest one.
    """
    width = max(len(k) for k, _ in rows)
    lines = [title, "-" * len(title)]
    lines += [f"{k:<{width}}  {v}" for k, v in rows]
    return "\n".join(lines)


def funnel_rows(summary: dict[str, Any]) -> list[tuple[str, Any]]:
    """The lines of an alignment's funnel summary, labelled, in print order.

    Parameters
    ----------
    summary : dict
        The summary of :func:`fusets_dl.alignment.summarise`; its
        ``s2_clear_mask`` (:data:`fusets_dl.alignment.summary.CLEAR_MASK_KEY`), when present, names the
        mask of the clear count (``clear (SCL)``, ``clear (cloud mask band)``);
        without it the line says only ``clear``.

    Returns
    -------
    list of (str, object)
        The keys present in ``summary``, with their labels.
    """
    from ..alignment.summary import CLEAR_MASK_KEY

    mask = summary.get(CLEAR_MASK_KEY)
    labels = {"s2_clear_pixel_dates": f"  clear ({mask})"} if mask else {}
    return [(labels.get(k, label), summary[k]) for k, label in _FUNNEL_LABELS if k in summary]


def metrics_table(metrics: dict[str, Any], title: str) -> str:
    """The held-out metrics of a trained model per split, and the test metrics per NDVI range.

    Parameters
    ----------
    metrics : dict
        ``FusionModel.metrics`` (``train``/``val``/``test`` and ``test_by_range``).
    title : str
        The heading.

    Returns
    -------
    str
        The table, ending with a newline.
    """
    lines = [title, "-" * len(title), f"{'split':<7} {'n':>8} {'R2':>7} {'RMSE':>7} {'MAE':>7} {'bias':>8}"]
    for name in ("train", "val", "test"):
        m = metrics.get(name)
        if m:
            lines.append(f"{name:<7} {m['n']:>8d} {m['r2']:>7.3f} {m['rmse']:>7.4f} {m['mae']:>7.4f} {m['bias']:>+8.4f}")
    if metrics.get("test_by_range"):
        lines.append("test RMSE / bias by observed NDVI range (R2 within a range is not a skill measure):")
        for r in metrics["test_by_range"]:
            lo, hi = r["range"]
            lines.append(f"  [{lo:+.1f}, {hi:+.1f}]  n {r['n']:>7d}  RMSE {r['rmse']:.4f}  bias {r['bias']:+.4f}")
    return "\n".join(lines) + "\n"


def _same(a: Path, b: Path) -> bool:
    """Whether two paths name the same file (links and ``..`` resolved; hard links by inode)."""
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
    except OSError:
        pass
    return a.resolve() == b.resolve()


def check_not_input(path: Path, inputs: Iterable[Any], what: str = "output") -> None:
    """Refuse an output that is one of the inputs (writing it would replace the data being read).

    Parameters
    ----------
    path : Path
        The output file or folder.
    inputs : iterable of path
        The command's input paths; a model stem also stands for its
        ``.json`` and ``.safetensors`` files.
    what : str
        How the message names the output (``"output"``, ``"--out"``).

    Raises
    ------
    ConfigError
        ``path`` resolves to an input (or, for a folder output, holds one).
    """
    for given in inputs:
        if given is None:
            continue
        inp = Path(given)
        names = {inp, inp.with_suffix(".json"), inp.with_suffix(".safetensors"), Path(f"{inp}.json"), Path(f"{inp}.safetensors")}
        if any(_same(path, n) for n in names):
            raise ConfigError(f"{what} {str(path)!r}: expected a path other than the inputs, found the input {str(given)!r} "
                              "(writing it would replace the data being read)")


def is_our_netcdf(path: Path) -> bool:
    """Whether ``path`` is a netCDF file that fusets_dl wrote.

    Only fusets_dl's own marker counts, never the CF names of the variables
    (a user's file with a standard ``long_name`` such as "Normalized
    Difference Vegetation Index" is not ours).

    Parameters
    ----------
    path : Path
        An existing file.

    Returns
    -------
    bool
        True for a file with a netCDF/HDF5 signature whose global
        attributes carry ``fusets_dl_version`` (what :func:`write_netcdf`
        stamps on every output), or a ``title`` starting with ``fusets_dl``
        (cubes written by ``align`` before that attribute existed, the
        scenes of ``synth``).
    """
    from ..readers.cube import store_kind

    if path.is_symlink() or store_kind(path) != "netcdf":
        return False
    import xarray as xr

    try:
        with xr.open_dataset(path, decode_cf=False, decode_times=False) as ds:
            attrs = dict(ds.attrs)
    except (OSError, ValueError, KeyError):
        return False
    return "fusets_dl_version" in attrs or str(attrs.get("title", "")).startswith("fusets_dl")


def _kind_of(path: Path) -> str:
    from ..readers.cube import store_kind

    kind = store_kind(path)
    return {"netcdf": "a netCDF file without fusets_dl's marker (global attribute 'fusets_dl_version' or a 'fusets_dl' title)",
            "json": "a JSON file", "empty": "an empty file", "zarr": "a Zarr store",
            "folder": "a folder"}.get(kind, "a file that is not netCDF (text or other)")


def not_ours_error(path: Path, what: str, replaces: str, found: str | None = None) -> StoreExistsError:
    """The refusal of ``--overwrite`` on a file that fusets_dl did not write.

    Parameters
    ----------
    path : Path
        The existing file.
    what : str
        How the message names the output (``"output"``, ``"--out"``).
    replaces : str
        What ``--overwrite`` replaces, for the message (``"a netCDF file"``).
    found : str, optional
        What was found, for the message (default: the kind of file, for a
        netCDF output).

    Returns
    -------
    StoreExistsError
        Saying that ``path`` was not written by fusets_dl, what was found, and
        to delete it by hand or choose another path.
    """
    found = "a link" if path.is_symlink() else found or _kind_of(path)
    return StoreExistsError(f"{what} {str(path)!r} was not written by fusets_dl (found {found}): --overwrite replaces only "
                            f"{replaces} written by fusets_dl; delete it by hand or choose another path")


def check_output(path: Path, *, overwrite: bool, inputs: Iterable[Any] = (), netcdf: bool = True) -> None:
    """Refuse an output path that cannot be written as a file, before any work.

    Parameters
    ----------
    path : Path
        The output file.
    overwrite : bool
        Whether an existing file may be replaced.
    inputs : iterable of path
        The command's inputs: the output may be none of them.
    netcdf : bool
        The output is a netCDF file: with ``overwrite``, an existing file is
        replaced only when fusets_dl wrote it (:func:`is_our_netcdf`).

    Raises
    ------
    ConfigError
        ``path`` is a folder, its parent is a file, it is one of ``inputs``,
        or it is named ``.zarr`` for a netCDF output.
    StoreExistsError
        ``path`` exists and ``overwrite`` is false; or it exists, is not a
        netCDF file written by fusets_dl, and ``netcdf`` is true.
    """
    check_not_input(path, inputs)
    if netcdf and path.suffix.lower() == ".zarr":  # a netCDF file named .zarr could not be read back as the store it claims
        raise ConfigError(f"output {str(path)!r}: these commands write netCDF, expected a .nc path (e.g. "
                          f"{str(path.with_suffix('.nc'))!r}), found a .zarr name; Zarr stores are written by 'run' and 'demo'")
    if path.is_dir():
        raise ConfigError(f"output {str(path)!r}: expected a file path (e.g. {str(path / 'out.nc')!r}), found a folder")
    parent = next((q for q in path.parents if q.exists()), None)
    if parent is not None and not parent.is_dir():
        raise ConfigError(f"output {str(path)!r}: expected a folder above it, found a file {str(parent)!r}")
    if path.exists() or path.is_symlink():
        if not overwrite:
            raise StoreExistsError(f"output {str(path)!r} exists: expected a new path, or pass --overwrite")
        if netcdf and not is_our_netcdf(path):
            raise not_ours_error(path, "output", "a netCDF file")


def is_ours(path: Path) -> bool:
    """Whether an existing output (file or Zarr store) carries fusets_dl's own marker.

    Parameters
    ----------
    path : Path
        An existing path in an output folder.

    Returns
    -------
    bool
        By kind: a netCDF file as :func:`is_our_netcdf` says; a Zarr store
        whose root attributes carry ``fusets_dl_version``; a model's
        ``.json`` sidecar (or the ``.safetensors`` beside one); the demo's
        ``summary.json``; a report (``.md`` titled ``# fusets_dl``,
        ``.html`` whose ``<title>`` starts with ``fusets_dl``) and the
        figures beside such a ``report.md``. False for links and anything else.
    """
    if path.is_symlink():
        return False
    suffix = path.suffix.lower()
    if suffix == ".nc":
        return is_our_netcdf(path)
    if suffix == ".zarr":
        from ..writers.zarr import is_our_store

        return is_our_store(path)
    if suffix == ".safetensors":
        return path.is_file() and is_sidecar(path.with_suffix(".json"))
    if suffix == ".json":
        return path.is_file() and (is_sidecar(path) or _our_summary(path))
    if suffix in (".md", ".html"):
        return _our_report_page(path)
    if suffix == ".png":  # a figure: ours when the report of its folder is
        return path.is_file() and _our_report_page(path.parent.parent / "report.md")
    return False


def _our_summary(path: Path) -> bool:
    """Whether ``path`` is the ``summary.json`` that ``demo`` wrote (a JSON object with ``pair`` and ``seconds``)."""
    try:
        doc = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError):
        return False
    return path.name == "summary.json" and isinstance(doc, dict) and {"pair", "seconds"} <= set(doc)


def _our_report_page(path: Path) -> bool:
    """Whether ``path`` is a ``report.md`` or ``report.html`` of fusets_dl (its title starts with ``fusets_dl``)."""
    if path.is_symlink() or not path.is_file():
        return False
    try:
        with path.open(encoding="utf-8") as f:
            head = f.read(4096)
    except (OSError, UnicodeDecodeError):
        return False
    return head.startswith("# fusets_dl") if path.suffix == ".md" else "<title>fusets_dl" in head


def check_folder_out(folder: Path, names: Sequence[str], *, overwrite: bool, option: str, command: str,
                     inputs: Iterable[Any] = ()) -> None:
    """Refuse, before any work, an output folder that cannot take a command's files.

    Parameters
    ----------
    folder : Path
        The output folder (created later when missing).
    names : sequence of str
        The files (and stores) the command will write into it, relative to it.
    overwrite : bool
        Whether those of them that fusets_dl wrote may be replaced.
    option : str
        The option that gave the folder, for the messages (``"-o"``, ``"--out"``).
    command : str
        The command, for the messages.
    inputs : iterable of path
        The command's inputs: the folder may be none of them.

    Raises
    ------
    ConfigError
        ``folder`` is a file, lies under a file, or is an input.
    StoreExistsError
        One of ``names`` exists and ``overwrite`` is false (the message names
        it and ``--overwrite``); or it exists and fusets_dl did not write it
        (:func:`is_ours`).
    """
    _check_folder(folder, option, f"{command} writes {', '.join(n for n in names if '/' not in n)} into it", inputs)
    present = [folder / n for n in names if (folder / n).exists() or (folder / n).is_symlink()]
    if not present:
        return
    if not overwrite:
        more = f" (and {len(present) - 1} more of {command}'s outputs)" if len(present) > 1 else ""
        raise StoreExistsError(f"{option} {str(folder)!r}: {str(present[0])!r} exists{more}: expected a folder without "
                               f"{command}'s outputs, or pass --overwrite to replace them")
    for path in present:
        if not is_ours(path):
            raise not_ours_error(path, "output", f"{command}'s own outputs", found="a file or folder without fusets_dl's marker")


def _check_folder(folder: Path, option: str, writes: str, inputs: Iterable[Any]) -> None:
    """An output folder that is no input, no file and under no file (``writes``: what goes into it, for the message)."""
    check_not_input(folder, inputs, option)
    if (folder.exists() or folder.is_symlink()) and not folder.is_dir():
        raise ConfigError(f"{option}: expected a folder, found a file: {str(folder)!r} ({writes})")
    parent = next((q for q in folder.parents if q.exists()), None)
    if parent is not None and not parent.is_dir():
        raise ConfigError(f"{option} {str(folder)!r}: expected a folder above it, found a file {str(parent)!r}")


def check_model_out(path: Path, option: str, formats: tuple[str, ...] = ()) -> None:
    """Refuse, before any work, a model or segmenter path whose ``.json`` exists and is not a fusets_dl sidecar.

    Saving would refuse it only after training (``save`` never replaces a
    user's file); checked here, no training is wasted.

    Parameters
    ----------
    path : Path
        The stem, ``.json`` or ``.safetensors`` path given.
    option : str
        The option, for the message (``"-o"``, ``"--save-segmenter"``).
    formats : tuple of str
        The sidecar formats this option may replace (a fusion model's
        ``-o`` replaces a model, never a segmenter, and the other way round);
        empty: any fusets_dl sidecar.

    Raises
    ------
    StoreExistsError
        ``<stem>.json`` exists and is not a JSON object with ``format`` and
        ``weights_sha256``, or is the sidecar of another kind of file.
    """
    s = path.with_suffix("") if path.suffix in (".json", ".safetensors") else path
    sidecar = s.with_name(s.name + ".json")
    if not (sidecar.exists() or sidecar.is_symlink()):
        return
    if not is_sidecar(sidecar):
        raise StoreExistsError(f"{option} {str(path)!r}: {str(sidecar)!r} exists and is not a fusets_dl model sidecar (no 'format' "
                               "and 'weights_sha256'); saving would not replace it: move it away or choose another path")
    found = str(json.loads(sidecar.read_text()).get("format"))
    if formats and found not in formats:
        raise StoreExistsError(f"{option} {str(path)!r}: {str(sidecar)!r} holds a {found} (expected {' or '.join(formats)} to "
                               "replace); saving would destroy it: move it away or choose another path")


def check_compare_out(folder: Path, *, overwrite: bool, inputs: Iterable[Any] = ()) -> None:
    """Refuse a ``compare --out`` folder that cannot take the results, before any work.

    Parameters
    ----------
    folder : Path
        The folder for ``compare.md``, ``.csv``, ``.json`` and ``.png``.
    overwrite : bool
        Whether results already in it may be replaced.
    inputs : iterable of path
        The command's inputs: the folder may be none of them.

    Raises
    ------
    ConfigError
        ``folder`` is a file, lies under a file, or is an input.
    StoreExistsError
        It holds results and ``overwrite`` is false; or it holds a
        ``compare.*`` file while its ``compare.json`` is not one that
        ``compare`` wrote (``rows`` and ``info``).
    """
    _check_folder(folder, "--out", f"compare writes {', '.join(COMPARE_FILES)} into it", inputs)
    present = [n for n in COMPARE_FILES if (folder / n).exists() or (folder / n).is_symlink()]
    if not present:
        return
    if not overwrite:
        raise StoreExistsError(f"--out {str(folder)!r} holds {present}: expected a folder without compare results, or pass --overwrite")
    if not _our_compare(folder / "compare.json"):
        raise StoreExistsError(f"--out {str(folder)!r}: --overwrite replaces only results written by compare (compare.json with "
                               f"'rows' and 'info'), found {present} without them; move them away or choose another folder")
    links = [n for n in present if (folder / n).is_symlink() or not (folder / n).is_file()]
    if links:
        raise StoreExistsError(f"--out {str(folder)!r}: expected plain files to replace, found links or folders {links}")


def _our_compare(path: Path) -> bool:
    """Whether ``path`` is a compare.json that ``compare`` wrote."""
    if path.is_symlink() or not path.is_file():
        return False
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError):
        return False
    return isinstance(doc, dict) and set(doc) == {"rows", "info"}


def write_netcdf(ds: Any, path: Path, *, overwrite: bool) -> None:
    """Write ``ds`` to netCDF atomically (a temporary name, then a rename).

    The file is stamped as ours (global attributes ``fusets_dl_version``,
    ``date_created``), so that a later ``--overwrite`` may replace it. The
    temporary file is ``.<name>.<random>.tmp`` beside ``path``: unique, so
    two runs do not collide and no file of the user's is touched.

    Parameters
    ----------
    ds : xarray.Dataset
        What to write.
    path : Path
        The output file (its folder is created).
    overwrite : bool
        Replace an existing file written by fusets_dl.

    Raises
    ------
    StoreExistsError
        ``path`` exists and ``overwrite`` is false, or it is not a netCDF
        file written by fusets_dl.
    ConfigError
        ``path`` is a folder.
    OutputError
        The file system refused the write (read-only, full, permissions):
        the OS error and the path; no temporary file is left and an
        existing file is untouched.
    """
    check_output(path, overwrite=overwrite)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        from ..cf import prepare_output
        from ..writers.zarr import provenance_attrs

        out = prepare_output(ds, netcdf=True)
        out.attrs = {**out.attrs, **provenance_attrs()}
        out.to_netcdf(tmp)
        tmp.replace(path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise OutputError(f"output {str(path)!r}: writing failed ({exc}); expected a writable folder with free space") from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
