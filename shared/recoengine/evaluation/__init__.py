"""Offline evaluation: the team's protocol, ranking metrics, paired statistics and peers."""
