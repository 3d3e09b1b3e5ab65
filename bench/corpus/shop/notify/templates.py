from string import Template

SHIPPING_TEMPLATE = Template("Hi $name, your parcel $tracking is on its way and arrives $eta.")


def render_shipping_notice(name: str, tracking: str, eta: str) -> str:
    return SHIPPING_TEMPLATE.substitute(name=name, tracking=tracking, eta=eta)
