"""Container tests: the lab's images and the real Toxiproxy on a Docker engine."""
