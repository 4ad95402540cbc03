"""Split files and the seeded scripts that generate them, so every user gets the same split."""
