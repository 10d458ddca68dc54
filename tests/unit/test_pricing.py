from hypothesis import given
from hypothesis import strategies as st

from luxxon.config import Settings
from luxxon.domain.ports.pricing import PriceInputs
from luxxon.domain.pricing import spot_rate_micro_usdc

# The bounds as shipped (LX_PRICE_FLOOR_PERCENT, LX_PRICE_CEILING_PERCENT): 50 % and 300 % of the base.
SHIPPED = (Settings.model_fields["price_floor_percent"].default, Settings.model_fields["price_ceiling_percent"].default)


@given(st.integers(0, 10**9), st.integers(0, 10**6), st.integers(0, 10**6))
def test_the_rate_is_deterministic_and_bounded(base: int, supply: int, demand: int) -> None:
    inputs = PriceInputs(supply=supply, demand=demand)
    rate = spot_rate_micro_usdc(base, inputs, *SHIPPED)
    assert rate == spot_rate_micro_usdc(base, inputs, *SHIPPED)
    assert base // 2 <= rate <= base * 3


def test_the_formula_at_known_points() -> None:
    assert spot_rate_micro_usdc(1000, PriceInputs(supply=0, demand=0), *SHIPPED) == 1000
    assert spot_rate_micro_usdc(1000, PriceInputs(supply=1, demand=0), *SHIPPED) == 500
    assert spot_rate_micro_usdc(1000, PriceInputs(supply=1, demand=2), *SHIPPED) == 1500
    assert spot_rate_micro_usdc(1000, PriceInputs(supply=3, demand=1), *SHIPPED) == 500
    assert spot_rate_micro_usdc(1000, PriceInputs(supply=0, demand=10), *SHIPPED) == 3000
    assert spot_rate_micro_usdc(1000, PriceInputs(supply=0, demand=10), 100, 100) == 1000
