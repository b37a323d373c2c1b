"""Energy maths against cases worked by hand: counter wrap-around and trapezoid integrals."""

import pytest

from profilers.energy.integrate import (
    counter_delta,
    cumulative_window_mj,
    trapezoid_energy_mj,
    window_energy_mj,
)


def test_counter_delta_without_wrap():
    assert counter_delta(100.0, 350.0) == 250.0
    assert counter_delta(5.0, 5.0, max_range=10.0) == 0.0


def test_counter_delta_wraps_once():
    # 900 -> (wraps at 1000) -> 100: 100 to the top, 100 after it.
    assert counter_delta(900.0, 100.0, max_range=1000.0) == 200.0


def test_counter_delta_refuses_a_reset_counter_and_out_of_range_readings():
    with pytest.raises(ValueError, match="reset"):
        counter_delta(900.0, 100.0)
    with pytest.raises(ValueError, match="outside"):
        counter_delta(1200.0, 100.0, max_range=1000.0)
    with pytest.raises(ValueError, match="max_range"):
        counter_delta(1.0, 2.0, max_range=0.0)


def test_trapezoid_of_a_ramp():
    # Power 0 W -> 2 W linearly over 2 s, then 2 W for 1 s: 2 J + 2 J = 4000 mJ.
    assert trapezoid_energy_mj([0.0, 2.0, 3.0], [0.0, 2.0, 2.0]) == pytest.approx(4000.0)


def test_window_interpolates_at_its_edges():
    # Power 10 W at t=0 rising to 20 W at t=10 s: P(t) = 10 + t.
    # Over [2, 4]: integral of 10 + t = 20 + (16 - 4) / 2 = 26 J.
    assert window_energy_mj([0.0, 10.0], [10.0, 20.0], 2.0, 4.0) == pytest.approx(26_000.0)
    # With samples inside the window the trapezoids are exact for a linear power too.
    times, power = [0.0, 3.0, 10.0], [10.0, 13.0, 20.0]
    assert window_energy_mj(times, power, 2.0, 4.0) == pytest.approx(26_000.0)


def test_window_must_be_covered_and_ordered():
    with pytest.raises(ValueError, match="cover"):
        window_energy_mj([1.0, 2.0], [1.0, 1.0], 0.5, 1.5)
    with pytest.raises(ValueError, match="t0_s < t1_s"):
        window_energy_mj([1.0, 2.0], [1.0, 1.0], 1.5, 1.5)
    with pytest.raises(ValueError, match="increasing"):
        trapezoid_energy_mj([1.0, 1.0], [1.0, 1.0])
    with pytest.raises(ValueError, match="two"):
        trapezoid_energy_mj([1.0], [1.0])


def test_cumulative_window():
    # 1000 mJ per second: 0.5 s .. 2.5 s is 2000 mJ.
    times, energy = [0.0, 1.0, 2.0, 3.0], [0.0, 1000.0, 2000.0, 3000.0]
    assert cumulative_window_mj(times, energy, 0.5, 2.5) == pytest.approx(2000.0)
    with pytest.raises(ValueError, match="decrease"):
        cumulative_window_mj([0.0, 1.0], [5.0, 4.0], 0.1, 0.9)
    with pytest.raises(ValueError, match="covers"):
        cumulative_window_mj(times, energy, 0.5, 3.5)
