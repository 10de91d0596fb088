"""Type stubs of the extension module `nabla._nabla` (Rust, PyO3).

The tracker's `RunCore` is used only through `nabla.Run` (typed in `_run.py`); the estimators
through `nabla.estimators`.
"""

from os import PathLike
from typing import Any, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
import numpy.typing as npt

NABLA_VERSION: str

def forked() -> None: ...
def __getattr__(name: str) -> Any: ...

class ServerWarning(UserWarning):
    """A run could not be sent to its nabla server (refused, or the server away): the run is
    recorded in the local store all the same, and `nabla runs sync` sends it later."""

class RunCore:
    """A run being recorded: the Rust half of `nabla.Run`."""

    id: str
    project: str
    name: Optional[str]
    dir: PathLike
    # The nabla server the run is sent to in the background, or None.
    server: Optional[str]
    step: int
    finished: bool
    def __init__(
        self,
        dir: Optional[str],
        project: str,
        name: Optional[str],
        config: str,
        tags: Sequence[str],
        heartbeat_secs: float = 5.0,
        system_secs: Optional[float] = 5.0,
        server: Optional[str] = None,
        token: Optional[str] = None,
    ) -> None: ...
    def log(self, data: Mapping[str, Any], step: Optional[int] = None, commit: Optional[bool] = None) -> None: ...
    def define_axis(self, name: str, step_metric: str) -> None: ...
    def summary(self, key: str, value: str) -> None: ...
    def set_config(self, config: str) -> None: ...
    def log_artifact(self, path: str, kind: str) -> Tuple[str, str, int]: ...
    def flush(self) -> None: ...
    def metrics(self) -> List[Tuple[str, int, Optional[float], Optional[float], Optional[float]]]: ...
    # A run the server did not take whole is a ServerWarning, not an error.
    def finish(self, status: str) -> None: ...

# (training loss per epoch, validation loss per epoch or [], epoch whose weights were kept,
#  the tracked run's id or None, a note on why tracking stopped or never started or None)
FitReport = Tuple[List[float], List[float], int, Optional[str], Optional[str]]
# (project, the run's config as JSON text, heartbeat seconds, system-sampling seconds or None)
Track = Tuple[str, str, float, Optional[float]]

class Network:
    """A fitted network: the checkpoint (weights, preprocessing, optimiser state) an estimator holds."""

    @staticmethod
    def fit(
        params: str,
        x: npt.NDArray[np.float32],
        columns: Sequence[str],
        y: Union[npt.NDArray[np.int64], npt.NDArray[np.float64]],
        classes: Optional[Sequence[str]] = None,
        target_name: str = "y",
        track: Optional[Track] = None,
    ) -> Tuple["Network", FitReport]: ...
    def partial_fit(
        self,
        params: str,
        x: npt.NDArray[np.float32],
        columns: Sequence[str],
        y: Union[npt.NDArray[np.int64], npt.NDArray[np.float64]],
        track: Optional[Track] = None,
    ) -> Tuple["Network", FitReport]: ...
    def outputs(self, x: npt.NDArray[np.float32], columns: Sequence[str]) -> npt.NDArray[np.float32]: ...
    def predict_proba(self, x: npt.NDArray[np.float32], columns: Sequence[str]) -> npt.NDArray[np.float32]: ...
    def predict_values(self, x: npt.NDArray[np.float32], columns: Sequence[str]) -> npt.NDArray[np.float64]: ...
    def layers(self) -> List[Tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]]: ...
    @property
    def classes(self) -> Optional[List[str]]: ...
    @property
    def columns(self) -> List[str]: ...
    @property
    def target_name(self) -> str: ...
    @property
    def epochs(self) -> int: ...
    def to_bytes(self) -> bytes: ...
    @staticmethod
    def from_bytes(data: bytes) -> "Network": ...
    def save(self, path: Union[str, PathLike]) -> None: ...
    @staticmethod
    def load(path: Union[str, PathLike]) -> "Network": ...
