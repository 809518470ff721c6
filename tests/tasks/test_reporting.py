"""Log lines a run's page shows: shard progress, every N images or at the next image after a minute."""

from tasks.reporting import ProgressLines


class Lines:
    def __init__(self):
        self.lines = []

    def info(self, message, *args):
        self.lines.append(message % args)


def test_progress_lines_every_n_images_or_after_a_minute():
    log, now = Lines(), [0.0]
    progress = ProgressLines(log, every=10, seconds=60, clock=lambda: now[0])
    for n in range(25):
        now[0] = n * 0.5
        progress({"key": f"k{n}", "status": "failed" if n == 3 else "generated"})
    progress({"shard": "3f2a", "rows_done": 6})  # not an image event
    assert log.lines == ["progress: 10 images so far (9 generated, 1 failed) after 4 s",
                         "progress: 20 images so far (19 generated, 1 failed) after 10 s"]
    now[0] = 75.0  # a slow image: more than a minute since the last line
    progress({"key": "slow", "status": "generated"})
    assert log.lines[-1] == "progress: 26 images so far (25 generated, 1 failed) after 75 s"
