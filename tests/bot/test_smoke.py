from tests.bot.conftest import ADMIN, World


async def test_admin_balance(world: World) -> None:
    reply = await world.say(ADMIN, "/balance")
    print(reply["text"])
    assert "Баланс" in reply["text"]
