"""A simulated GitHub REST API for the tests and `trunkwatch demo`."""

from bot.sim.simulated_github.keys import generate_private_key_pem, public_key_pem
from bot.sim.simulated_github.server import ReceivedRequest, RecordedRequest, SimulatedGitHub

__all__ = [
    "ReceivedRequest",
    "RecordedRequest",
    "SimulatedGitHub",
    "generate_private_key_pem",
    "public_key_pem",
]
