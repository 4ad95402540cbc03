"""SI-SDR for the benchmarks: the one implementation lives in `m2l2.sisdr` (training probes use it too)."""

from m2l2.sisdr import SILENCE_POWER, SisdrResult, as_channels, match_channels, si_sdr, sisdr_channel

__all__ = ["SILENCE_POWER", "SisdrResult", "as_channels", "match_channels", "si_sdr", "sisdr_channel"]
