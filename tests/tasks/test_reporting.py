"""Log lines a run's page shows: shard progress, every tenth of the images or every minute."""

from tasks.reporting import ProgressLines


class Lines:
    def __init__(self):
        self.lines = []

    def info(self, message, *args):
        self.lines.append(message % args)


def test_progress_lines_every_tenth_of_the_images_or_every_minute():
    log, now = Lines(), [0.0]
    progress = ProgressLines(log, "shard 3f2a", images=100, seconds=60, clock=lambda: now[0])
    for n in range(25):
        now[0] = n * 0.5
        progress({"key": f"k{n}", "status": "failed" if n == 3 else "generated"})
    progress({"shard": "3f2a", "rows_done": 6})  # not an image event
    assert log.lines == ["shard 3f2a: 10 of 100 images (9 generated, 1 failed) after 4 s",
                         "shard 3f2a: 20 of 100 images (19 generated, 1 failed) after 10 s"]
    now[0] = 75.0  # a slow image: more than a minute since the last line
    progress({"key": "slow", "status": "generated"})
    assert log.lines[-1] == "shard 3f2a: 26 of 100 images (25 generated, 1 failed) after 75 s"
