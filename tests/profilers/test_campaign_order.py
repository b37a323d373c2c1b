"""A profile measures the 10 reference cells (the device embedding) first, then the samples."""

from devices import Device
from hwnas.core.spaces.nb201 import NB201Space
from hwnas.jobs import ProfileConfig, profile_archs
from profilers import MeasurementStore, create_runtime, run_campaign


def test_the_10_reference_cells_come_first_then_distinct_samples():
    archs = profile_archs(ProfileConfig(samples=7, seed=3))
    assert tuple(archs[:10]) == NB201Space().reference_archs()
    assert len(archs) == 17 and len(set(archs)) == 17


def test_campaign_measures_and_reports_in_item_order(tiny_onnx_factory, tmp_path, fast_timing):
    items = [(key, tiny_onnx_factory(f"{key}.onnx")) for key in ("ref0", "ref1", "s0", "s1")]
    device = Device(name="ci-box", kind="cpu", runtimes=("onnxruntime",))
    seen = []
    with MeasurementStore(tmp_path / "s.sqlite") as store:
        result = run_campaign(
            items,
            store,
            create_runtime("onnxruntime", intra_op_threads=1),
            device,
            timing=fast_timing,
            progress=lambda done, total, key, row: seen.append((done, total, key)),
        )
        assert [m.key for m in store.measurements()] == ["ref0", "ref1", "s0", "s1"]
    assert result.measured == ("ref0", "ref1", "s0", "s1")
    assert seen == [(1, 4, "ref0"), (2, 4, "ref1"), (3, 4, "s0"), (4, 4, "s1")]


def test_fbnet_profiles_the_table_references_first_then_table_networks():
    from hwnas.core.spaces import FBNetSpace

    space = FBNetSpace()
    archs = profile_archs(ProfileConfig(space="fbnet", samples=6, seed=2))
    assert tuple(archs[:10]) == space.reference_archs()
    assert len(set(archs)) == 16 and all(space.table_index(a) is not None for a in archs)
    assert archs == profile_archs(ProfileConfig(space="fbnet", samples=6, seed=2))
    assert archs[10:] != profile_archs(ProfileConfig(space="fbnet", samples=6, seed=3))[10:]
