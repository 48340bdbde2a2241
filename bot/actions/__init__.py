"""What the bot does about decisions: on GitHub, or as a dry run."""
