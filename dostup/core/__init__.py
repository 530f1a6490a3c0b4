"""Framework-free building blocks shared by every domain package."""
