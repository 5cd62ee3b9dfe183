"""Tests of the vendor-compatible APIs (WarpStream, Typesense Cloud, Metronome)."""
