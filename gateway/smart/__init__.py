"""The gateway's smart-charging engine, version-neutral, pure and synchronous
(no I/O but the profile file, time passed in): profiles and their rules
(`profiles`), the composite schedule of DESIGN §8 (`composite`) and the compact
schedule pushed to each firmware with the site limit shared (`to_link`).
docs/smart_charging.md describes the model and the policies."""
