"""The dashboard's HTML, JavaScript and CSS (package data; no build step)."""
