"""Presensi server core."""
