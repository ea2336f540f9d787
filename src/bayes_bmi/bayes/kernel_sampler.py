"""NUTS by nutpie on the compiled kernel (no PyMC, no PyTensor).

nutpie's Rust sampler calls the kernel's C callback directly from its chain threads, so
chains run in parallel without the GIL. This uses nutpie's lower-level model interface
(``nutpie._lib.LogpFunc``/``PyMcModel``, the one ``nutpie.compile_pymc_model`` builds on)
rather than the public ``nutpie.compiled_pyfunc.from_pyfunc``, whose Python callback holds
the GIL for every gradient: measured on the Holzinger-Swineford CFA (4 chains x 2000
iterations, 2 cores, the machine loaded by other work) the callback path sampled in 0.97 s
against 2.7 s (low-rank adaptation) and 1.0 s against 1.9 s (diagonal), with identical draws;
with the public path two chains on two cores were no faster than one. Should a nutpie release
change the lower-level interface, :func:`sample_kernel` warns and falls back to the public
path (the same draws, slower).

Importing nutpie imports ``arviz``, whose namespace package imports ``arviz_plots`` and with it
matplotlib's pyplot (about 0.6 s of a 2-4 s command), although nutpie only calls
``arviz.from_dict`` and ``arviz.dict_to_dataset``, which are ``arviz_base``'s functions
re-exported (the same objects). :func:`_import_nutpie` therefore imports nutpie while
``sys.modules["arviz"]`` is ``arviz_base`` and then removes that entry: nutpie's ``arviz``
is ``arviz_base`` (the same functions), and a later ``import arviz`` loads the real package.
"""

from __future__ import annotations

import ctypes
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import xarray as xr


def _import_nutpie():
    """The module ``nutpie.sample``, imported without ``arviz`` as a whole (module docstring)."""
    if "arviz" not in sys.modules and "nutpie" not in sys.modules:
        import arviz_base

        sys.modules["arviz"] = arviz_base
        try:
            import nutpie  # noqa: F401
        except ImportError:  # a nutpie that needs more of arviz: imported below with all of it
            pass
        finally:
            if sys.modules.get("arviz") is arviz_base:
                del sys.modules["arviz"]
    import nutpie  # noqa: F401

    return sys.modules["nutpie.sample"]


_nutpie = _import_nutpie()
_lib = _nutpie._lib
nutpie_sample = _nutpie.sample
CompiledModel = _nutpie.CompiledModel

from bayes_bmi.bayes.compiled import CompiledKernel  # noqa: E402
from bayes_bmi.bayes.kernel_data import KernelData  # noqa: E402

__all__ = ["KernelModel", "sample_kernel"]


@dataclass(frozen=True, kw_only=True)
class KernelModel(CompiledModel):
    """A nutpie model: the compiled kernel plus one fit's buffers and start values.

    Attributes
    ----------
    kernel : CompiledKernel
    data : KernelData
    names : tuple of str
        Names of the elements of ``z`` (the ``param`` coordinate).
    init : callable
        ``init(seed) -> z`` for each chain.
    """

    kernel: CompiledKernel
    data: KernelData
    names: tuple[str, ...]
    init: Callable[[int], np.ndarray]
    dims: dict = field(default_factory=lambda: {"z": ("param",)})

    @property
    def n_dim(self) -> int:
        """Length of ``z``."""
        return self.data.nparam

    @property
    def shapes(self) -> dict[str, tuple[int, ...]]:
        """Shape of the stored variable ``z``."""
        return {"z": (self.data.nparam,)}

    @property
    def coords(self) -> dict[str, list[str]]:
        """The ``param`` coordinate."""
        return {"param": list(self.names)}

    def _make_model(self, init_mean):
        ints, floats = self.data.ints, self.data.floats
        header = np.array([ints.ctypes.data, ints.size, floats.ctypes.data, floats.size])
        header = header.astype(np.int64)
        keep_alive = (header, ints, floats, self.kernel)
        n = self.data.nparam
        logp = _lib.LogpFunc(self.kernel.logp.address, header.ctypes.data, keep_alive)
        expand = _lib.ExpandFunc(n, n, self.kernel.expand.address, header.ctypes.data, keep_alive)
        sizes = {"param": n}
        variables = _lib.PyVariable.new_variables(["z"], ["float64"], [(n,)], sizes, self.dims)
        return _lib.PyMcModel(logp, expand, variables, n, sizes, self.coords, self.init, None)

    def _make_sampler(
        self, settings, init_mean, cores, progress_type, extra_callback, extra_callback_rate, store
    ):
        return _lib.PySampler.from_pymc(
            settings,
            cores,
            self._make_model(init_mean),
            progress_type,
            extra_callback,
            extra_callback_rate,
            store,
        )


def _python_callback_model(model: KernelModel):
    """The same model through nutpie's public ``from_pyfunc`` (the callback via ctypes).

    ctypes releases the GIL while the compiled callback runs; the rest of each call holds it.
    """
    from nutpie.compiled_pyfunc import from_pyfunc

    n = model.data.nparam
    ints, floats = model.data.ints, model.data.floats
    header = np.array([ints.ctypes.data, ints.size, floats.ctypes.data, floats.size], np.int64)
    dbl = ctypes.POINTER(ctypes.c_double)
    call = model.kernel.logp.ctypes
    user_data = ctypes.c_void_p(header.ctypes.data)
    keep_alive = (header, ints, floats)

    def make_logp():
        def logp(x):
            x = np.ascontiguousarray(x, dtype=np.float64)
            grad, out = np.empty(n), np.empty(1)
            call(
                n,
                x.ctypes.data_as(dbl),
                grad.ctypes.data_as(dbl),
                out.ctypes.data_as(dbl),
                user_data,
            )
            _ = keep_alive
            return float(out[0]), grad  # a non-finite value is a divergence for nutpie

        return logp

    def make_expand(seed1, seed2, chain):
        return lambda x: {"z": np.array(x, dtype=np.float64)}

    return from_pyfunc(
        ndim=n,
        make_logp_fn=make_logp,
        make_expand_fn=make_expand,
        expanded_dtypes=[np.dtype("float64")],
        expanded_shapes=[(n,)],
        expanded_names=["z"],
        coords=model.coords,
        dims=model.dims,
        make_initial_point_fn=model.init,
    )


def sample_kernel(model: KernelModel, *, callback: bool = True, **kwargs) -> xr.DataTree:
    """Run ``nutpie.sample`` on a :class:`KernelModel` (keyword arguments passed on).

    ``callback=False`` uses nutpie's public Python-function interface instead of the C
    callback (slower; the fallback when the lower-level interface is not as expected).
    Ctrl-C (:class:`KeyboardInterrupt`) cancels the run and propagates: no partial trace is
    returned.
    """
    if callback:
        try:
            model._make_model(None)
        except (AttributeError, TypeError) as exc:
            warnings.warn(
                f"nutpie's lower-level model interface changed ({exc}); sampling through "
                "its public Python-function interface instead (slower)",
                RuntimeWarning,
                stacklevel=2,
            )
            callback = False
    sampler = nutpie_sample(
        model if callback else _python_callback_model(model), blocking=False, **kwargs
    )
    try:
        return sampler.wait()
    except KeyboardInterrupt:
        # nutpie's blocking call would return the draws so far (the rest NaN): a posterior
        # that looks complete but is not. Discard them and let the interrupt through.
        sampler.cancel()
        raise
