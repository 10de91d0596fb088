"""Type stubs of the extension module `nabla._nabla` (Rust, PyO3): the estimators' part.

The tracker's `RunCore` is used only through `nabla.Run` (typed in `_run.py`); it is left open here.
"""

from os import PathLike
from typing import Any, List, Optional, Sequence, Tuple, Union

import numpy as np
import numpy.typing as npt

NABLA_VERSION: str

def forked() -> None: ...
def __getattr__(name: str) -> Any: ...

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
