"""Connector for the National Public Service Portal (DVCQG): dossier sync and its sandbox simulator."""
