"""Package discovery (everything else is in pyproject.toml).

training/ and hub_cards/ are top-level folders of the repository that install inside the package
as distilled_datasets.training and distilled_datasets.hub_cards, so nothing called `training`
lands in anyone's site-packages. Their subpackages are found, not listed: a new folder with an
__init__.py ships without touching this file (tests/test_wheel.py installs the wheel to check).
"""

from setuptools import find_packages, setup

MAPPED = {"distilled_datasets.training": "training", "distilled_datasets.hub_cards": "hub_cards"}


def packages_under(folder: str, name: str):
    return [name] + [f"{name}.{sub}" for sub in find_packages(folder)]


packages = find_packages(include=["distilled_datasets", "distilled_datasets.*"])
package_dir = {"distilled_datasets": "distilled_datasets"}
for name, folder in MAPPED.items():
    packages += packages_under(folder, name)
    package_dir[name] = folder

setup(packages=packages, package_dir=package_dir)
