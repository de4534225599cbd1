"""Topic names of the energy-manager MQTT interface (docs/mqtt.md), all under one PREFIX:

    PREFIX/availability                 retained "online" / "offline" (the MQTT will)
    PREFIX/evse/<n>/state               retained JSON, gateway.hems.state
    PREFIX/evse/<n>/event               JSON per firmware record
    PREFIX/evse/<n>/<command>/set       a command (gateway.hems.commands), <command> one of
                                        COMMANDS
    PREFIX/evse/<n>/reply               the answer to every command

A PREFIX is one or more topic levels without the wildcards + and #, without a leading $
(broker-internal topics) and without empty levels (MQTT 3.1.1 §4.7)."""

COMMANDS = ("limit", "override", "soc")
AVAILABLE = "online"
NOT_AVAILABLE = "offline"


def check_prefix(prefix):
    """-> the prefix without surrounding slashes, or ValueError saying what is wrong."""
    p = prefix.strip("/")
    if not p:
        raise ValueError("the topic prefix is empty (mqtt://HOST[:PORT]/PREFIX)")
    if any(c in p for c in "+#\0"):
        raise ValueError("the topic prefix %r holds a wildcard (+ or #) or NUL" % prefix)
    if p.startswith("$"):
        raise ValueError("the topic prefix %r starts with $ (reserved for the broker)" % prefix)
    if "" in p.split("/"):
        raise ValueError("the topic prefix %r has an empty level (//)" % prefix)
    return p


class Topics:
    def __init__(self, prefix):
        self.prefix = check_prefix(prefix)
        self.availability = self.prefix + "/availability"
        self.commands = self.prefix + "/evse/+/+/set"  # the subscription

    def evse(self, evse, leaf):
        """evse: an EVSE id, or the topic level as received (a reply to a bad one)."""
        return "%s/evse/%s/%s" % (self.prefix, evse, leaf)

    def state(self, evse_id):
        return self.evse(evse_id, "state")

    def event(self, evse_id):
        return self.evse(evse_id, "event")

    def reply(self, evse):
        return self.evse(evse, "reply")

    def command(self, evse_id, name):
        return self.evse(evse_id, name + "/set")

    def parse_command(self, topic):
        """A topic matched by `commands` -> (EVSE level as text, command level), or None
        for one that is not under this prefix's command pattern."""
        head = self.prefix + "/evse/"
        if not topic.startswith(head) or not topic.endswith("/set"):
            return None
        levels = topic[len(head):-len("/set")].split("/")
        if len(levels) != 2:
            return None
        return levels[0], levels[1]
