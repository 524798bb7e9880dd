"""Insights (issue 8): DORA metrics, incidents, platform metrics, scorecards and maturity.

Plain Python over the store and the other domains' read models; no web imports.
"""
