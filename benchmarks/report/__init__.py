"""`m2l2 report`: a static listening page per configuration, `results/report/<config>/index.html`.

Per model: the Table II numbers, and for the best, median and worst clips by each per-clip metric (SI-SDR,
per-song FAD) the original and the reconstruction as short Opus excerpts with their spectrograms, plus the
Fig. 3 plot. What a reader needs beside the numbers is on the page: the reason for every empty cell, the
columns' units, spectrogram axes, and a note on rows whose checkpoint was trained only as a denoiser. No
server, no internet: every link is a relative file. `check_page` loads the page in headless Chromium and
reports every resource that did not load.
"""

from benchmarks.report.browser import PageCheck, check_page, find_chromium
from benchmarks.report.build import ReportSummary, build_report

__all__ = ["PageCheck", "ReportSummary", "build_report", "check_page", "find_chromium"]
