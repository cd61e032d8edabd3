"""An interrupted retrain (Ctrl-C, or a kill, in the middle of fitting) leaves a folder the next
run does not mistake for a finished model, and the previous model file stays whole."""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def test_interrupted_retrain_is_not_trusted(tmp_path: Path, small_watch_npz: Path, train_tiny,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    import tf_keras as keras

    from tinyrnn.train.fit import TrainConfig, is_trained, train
    from tinyrnn.train.sources import load_dataset

    d = train_tiny(tmp_path, small_watch_npz, "rnn")
    cfg = TrainConfig(dataset=str(small_watch_npz), cell="rnn", units=8, epochs=8, seed=0,
                      patience=8)
    assert is_trained(d, cfg)
    before = (d / "model.keras").read_bytes()

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(keras.Model, "fit", interrupted)
    with pytest.raises(KeyboardInterrupt):
        train(cfg, load_dataset(str(small_watch_npz), seed=0), root=tmp_path, force=True,
              verbose=0)
    assert not is_trained(d, cfg)  # a rerun trains again instead of trusting the folder
    assert (d / "model.keras").read_bytes() == before
    assert not list(d.glob("*.tmp*"))
