"""Forensic Viewer: offline image forensics with Error Level Analysis and a CNN verdict."""

__version__ = "0.1.0"
