"""A plugin object that raises while the plugin manager inspects it at register()."""


class Plugin:
    def __dir__(self):
        raise RuntimeError("settings not found: set TESTPLUG_SETTINGS")


plugin = Plugin()
