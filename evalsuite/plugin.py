"""evalsuite's own plugin: registered through the same entry-point group as any third-party one."""

PLUGIN_MODULES = ("evalsuite.commands", "evalsuite.compare.command", "evalsuite.metrics", "evalsuite.models.builtin",
                  "evalsuite.variants.builtin", "evalsuite.tasks", "evalsuite.audits", "evalsuite.privacy",
                  "evalsuite.leaderboards", "evalsuite.perturb.builtin")
