"""evalsuite's own plugin: registered through the same entry-point group as any third-party one."""

PLUGIN_MODULES = ("evalsuite.commands", "evalsuite.metrics", "evalsuite.models.builtin", "evalsuite.tasks", "evalsuite.audits",
                  "evalsuite.privacy", "evalsuite.leaderboards")
