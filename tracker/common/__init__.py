"""What every package shares: error families, atomic files, the device rule, compact arrays, weights checks.

It lives under ``tracker/`` because that is the lowest package: ``recognizer/`` and
``pipeline/`` import it, it imports neither.
"""
